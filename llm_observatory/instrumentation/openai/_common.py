"""What every OpenAI API surface shares: the client's provider and server, request parameters,
usage objects and raw responses."""

from __future__ import annotations

import weakref
from typing import Any, TypeGuard

from ... import semconv as sc
from .._core._guard import report
from .._core._inference import Inference

#: The header the SDK sets on ``with_raw_response`` ("true") and ``with_streaming_response`` ("stream") calls.
RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"


def given(value: Any) -> TypeGuard[Any]:
    """False for ``None`` and the SDK's ``NOT_GIVEN`` / ``omit`` sentinels."""
    return value is not None and type(value).__name__ not in ("NotGiven", "Omit")


def client_info(instance: Any) -> tuple[str, str | None, int | None]:
    """``(provider, server.address, server.port)`` of the client behind a resource instance."""
    client = getattr(instance, "_client", None)
    provider = sc.Provider.OPENAI
    if client is not None and type(client).__name__.startswith(("AzureOpenAI", "AsyncAzureOpenAI")):
        provider = sc.Provider.AZURE_OPENAI
    url = getattr(client, "base_url", None)
    host = getattr(url, "host", None)
    if not host:
        return provider, None, None
    port = getattr(url, "port", None)
    scheme = getattr(url, "scheme", "https")
    if port is None or (scheme == "https" and port == 443) or (scheme == "http" and port == 80):
        port = None
    return provider, host, port


def raw_mode(kwargs: dict[str, Any]) -> str | None:
    """``"true"`` (with_raw_response), ``"stream"`` (with_streaming_response) or ``None``."""
    headers = kwargs.get("extra_headers")
    if not headers:
        return None
    value = headers.get(RAW_RESPONSE_HEADER)
    return value if isinstance(value, str) else None


def extra_body_value(kwargs: dict[str, Any], name: str) -> Any:
    value = kwargs.get(name)
    if given(value):
        return value
    body = kwargs.get("extra_body")
    return body.get(name) if isinstance(body, dict) else None


def common_request_attributes(kwargs: dict[str, Any], attrs: dict[str, Any]) -> None:
    """Sampling parameters shared by chat, completions and responses."""
    for key, attr in (("temperature", sc.GEN_AI_REQUEST_TEMPERATURE), ("top_p", sc.GEN_AI_REQUEST_TOP_P),
                      ("frequency_penalty", sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
                      ("presence_penalty", sc.GEN_AI_REQUEST_PRESENCE_PENALTY)):
        value = kwargs.get(key)
        if given(value) and isinstance(value, (int, float)):
            attrs[attr] = float(value)
    seed = kwargs.get("seed")
    if given(seed) and isinstance(seed, int):
        attrs[sc.GEN_AI_REQUEST_SEED] = seed
    stop = kwargs.get("stop")
    if given(stop):
        attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop] if isinstance(stop, str) else [str(s) for s in stop]
    tier = extra_body_value(kwargs, "service_tier")
    if isinstance(tier, str) and tier != "auto":
        attrs[sc.OPENAI_REQUEST_SERVICE_TIER] = tier


def response_refinements(inference: Inference, response: Any) -> None:
    """``service_tier`` and ``system_fingerprint`` of a response object, when present."""
    tier = getattr(response, "service_tier", None)
    if isinstance(tier, str):
        inference.attributes[sc.OPENAI_RESPONSE_SERVICE_TIER] = tier
    fingerprint = getattr(response, "system_fingerprint", None)
    if isinstance(fingerprint, str):
        inference.attributes[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint


def details(obj: Any, name: str, field: str) -> int | None:
    """``obj.<name>.<field>`` as an int, or ``None``."""
    sub = getattr(obj, name, None)
    value = getattr(sub, field, None) if sub is not None else None
    return value if isinstance(value, int) else None


_RAW_RESPONSE_TYPES = frozenset({"LegacyAPIResponse", "APIResponse", "AsyncAPIResponse"})


def is_raw_response(result: Any) -> bool:
    """A ``with_raw_response`` or ``with_streaming_response`` result rather than parsed data.

    By class name: ``hasattr`` on a pydantic response would go through its slow failing ``__getattr__``.
    """
    return type(result).__name__ in _RAW_RESPONSE_TYPES


def unwrap_raw(inference: Inference, result: Any, finish: Any) -> Any:
    """Handle ``with_raw_response`` / ``with_streaming_response`` results.

    ``LegacyAPIResponse`` (raw): its body is already read, so parsing it here costs the user
    nothing (the SDK caches the parsed object for the user's own ``parse()``). A parsed stream is
    replaced in that cache by our proxy, so the user iterates through it.
    ``APIResponse`` (streaming): its body is read only when the user asks, so the span ends when
    the user calls ``parse()`` (with the parsed result), or when the response is garbage collected.
    """
    cls = type(result).__name__
    if cls == "LegacyAPIResponse":
        parsed = result.parse()
        replaced = finish(inference, parsed)
        if replaced is not parsed:
            try:
                result._parsed_by_type[result._cast_to] = replaced
            except Exception as exc:  # the SDK changed its cache: the stream stays untraced
                report("openai.raw_response_cache", exc)
        return result
    _defer_to_parse(inference, result, finish)
    return result


def _defer_to_parse(inference: Inference, response: Any, finish: Any) -> None:
    original = response.parse
    is_async = type(response).__name__.startswith("Async")

    def _finish(parsed: Any) -> Any:
        if inference.done:
            return parsed
        try:
            replaced = finish(inference, parsed)
        except Exception as exc:
            report("openai.streaming_response", exc)
            inference.end()
            return parsed
        if replaced is not parsed:
            try:
                response._parsed_by_type[response._cast_to] = replaced
            except Exception as exc:
                report("openai.raw_response_cache", exc)
        return replaced

    if is_async:
        async def parse_async(*args: Any, **kwargs: Any) -> Any:
            parsed = await original(*args, **kwargs)
            return parsed if args or kwargs else _finish(parsed)

        response.parse = parse_async
    else:
        def parse(*args: Any, **kwargs: Any) -> Any:
            parsed = original(*args, **kwargs)
            return parsed if args or kwargs else _finish(parsed)

        response.parse = parse
    weakref.finalize(response, inference.end)
