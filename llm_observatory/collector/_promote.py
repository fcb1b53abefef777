"""A GenAI span → one ``llm_metrics`` row (one row per model call).

A span is a model call when its ``gen_ai.operation.name`` is an inference operation (``chat``,
``text_completion``, ``generate_content``, ``embeddings``), or, for older instrumentations that
do not set it, when it carries token usage. A framework span whose call a provider span beneath
it counted (``llm.inference.delegated_to``) is not a row: the provider span is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import semconv as sc

_INFERENCE = sc.INFERENCE_OPERATIONS


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def promote(trace_id: str, span_id: str, service: str, start_ns: int, duration_ms: float,
            attrs: Mapping[str, Any], resource: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The ``llm_metrics`` row of a span, in :data:`LLM_COLUMNS` order, or ``None``."""
    operation = attrs.get(sc.GEN_AI_OPERATION_NAME)
    prompt = _int(attrs.get(sc.GEN_AI_USAGE_INPUT_TOKENS, attrs.get("gen_ai.usage.prompt_tokens")))
    completion = _int(attrs.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS, attrs.get("gen_ai.usage.completion_tokens")))
    if operation is None:
        if prompt is None and completion is None:
            return None
    elif operation not in _INFERENCE:
        return None
    if sc.LLM_INFERENCE_DELEGATED_TO in attrs:
        return None
    request_model = _str(attrs.get(sc.GEN_AI_REQUEST_MODEL))
    model = _str(attrs.get(sc.GEN_AI_RESPONSE_MODEL)) or request_model
    provider = _str(attrs.get(sc.GEN_AI_PROVIDER_NAME)) or _str(attrs.get("gen_ai.system"))
    total = _int(attrs.get("llm.usage.total_tokens")) or (
        None if prompt is None and completion is None else (prompt or 0) + (completion or 0))
    ttft = _float(attrs.get(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK))
    user = _str(attrs.get(sc.USER_ID)) or _str(resource.get(sc.USER_ID))
    session = _str(attrs.get(sc.SESSION_ID)) or _str(resource.get(sc.SESSION_ID))
    estimated = attrs.get(sc.LLM_USAGE_ESTIMATED)
    return (start_ns, trace_id, span_id, service, model, request_model, provider, _str(operation) or "chat",
            prompt, completion, total, _int(attrs.get(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)),
            _float(attrs.get(sc.LLM_COST_USD)), bool(estimated) if estimated is not None else False,
            duration_ms, None if ttft is None else ttft * 1000.0, _str(attrs.get(sc.ERROR_TYPE)), user, session)
