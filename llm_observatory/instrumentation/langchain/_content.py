"""LangChain data → GenAI attributes: providers, parameters, messages, usage and documents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ... import semconv as sc
from .._core._messages import field, message, parse_arguments, text_part, tool_call_part, tool_call_response_part

#: LangChain's ``ls_provider`` values → ``gen_ai.provider.name``.
PROVIDERS: dict[str, str] = {
    "openai": sc.Provider.OPENAI,
    "azure": sc.Provider.AZURE_OPENAI,
    "azure_openai": sc.Provider.AZURE_OPENAI,
    "anthropic": sc.Provider.ANTHROPIC,
    "amazon_bedrock": sc.Provider.AWS_BEDROCK,
    "bedrock": sc.Provider.AWS_BEDROCK,
    "bedrock_converse": sc.Provider.AWS_BEDROCK,
    "google_vertexai": sc.Provider.GCP_VERTEX_AI,
    "google_genai": sc.Provider.GCP_GEMINI,
    "mistral": sc.Provider.MISTRAL_AI,
    "mistralai": sc.Provider.MISTRAL_AI,
    "cohere": sc.Provider.COHERE,
    "groq": sc.Provider.GROQ,
    "deepseek": sc.Provider.DEEPSEEK,
    "xai": sc.Provider.X_AI,
}

#: Metadata keys LangChain and LangGraph add themselves (not the user's).
_INTERNAL_METADATA = ("ls_", "langgraph_", "checkpoint_", "lc_", "__")
#: Tags LangChain adds to child runs for its own bookkeeping.
_INTERNAL_TAGS = ("seq:step:", "graph:step:", "langsmith:", "map:key:")
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool",
          "chat": "user", "developer": "system", "AIMessageChunk": "assistant"}


def run_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if serialized:
        name = serialized.get("name")
        if isinstance(name, str) and name:
            return name
        ids = serialized.get("id")
        if isinstance(ids, list) and ids:
            return str(ids[-1])
    return default


def tags_and_metadata(tags: list[str] | None, metadata: Mapping[str, Any] | None, attrs: dict[str, Any]) -> None:
    """The user's tags and (primitive) metadata from the run config, as ``llm.langchain.*``."""
    if tags:
        own = [t for t in tags if isinstance(t, str) and not t.startswith(_INTERNAL_TAGS)]
        if own:
            attrs[sc.LLM_LANGCHAIN_TAGS] = own
    if metadata:
        count = 0
        for key, value in metadata.items():
            if (isinstance(key, str) and not key.startswith(_INTERNAL_METADATA)
                    and isinstance(value, (str, bool, int, float))):
                attrs[sc.LLM_LANGCHAIN_METADATA_PREFIX + key] = value
                count += 1
                if count >= 32:
                    break


def provider_of(metadata: Mapping[str, Any] | None, serialized: Mapping[str, Any] | None) -> str:
    raw = metadata.get("ls_provider") if metadata else None
    if isinstance(raw, str) and raw:
        return PROVIDERS.get(raw, raw)
    return "langchain"


def model_of(metadata: Mapping[str, Any] | None, params: Mapping[str, Any]) -> str | None:
    model = metadata.get("ls_model_name") if metadata else None
    if not model:
        model = params.get("model") or params.get("model_name") or params.get("model_id")
    return str(model) if model else None


def request_attributes(metadata: Mapping[str, Any] | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """``gen_ai.request.*`` from LangSmith params (``ls_*``) and the invocation parameters."""
    attrs: dict[str, Any] = {}
    meta = metadata or {}
    temperature = meta.get("ls_temperature", params.get("temperature"))
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        attrs[sc.GEN_AI_REQUEST_TEMPERATURE] = float(temperature)
    max_tokens = meta.get("ls_max_tokens", params.get("max_tokens") or params.get("max_completion_tokens"))
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    stop = meta.get("ls_stop", params.get("stop"))
    if isinstance(stop, str):
        stop = [stop]
    if isinstance(stop, (list, tuple)) and stop:
        attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [str(s) for s in stop]
    for key, name, kind in (("top_p", sc.GEN_AI_REQUEST_TOP_P, float),
                            ("frequency_penalty", sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, float),
                            ("presence_penalty", sc.GEN_AI_REQUEST_PRESENCE_PENALTY, float),
                            ("top_k", sc.GEN_AI_REQUEST_TOP_K, int),
                            ("seed", sc.GEN_AI_REQUEST_SEED, int)):
        value = params.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[name] = kind(value)
    n = params.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:
        attrs[sc.GEN_AI_REQUEST_CHOICE_COUNT] = n
    return attrs


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [text_part(content)]
    parts: list[dict[str, Any]] = []
    for block in content if isinstance(content, list) else [content]:
        if isinstance(block, str):
            parts.append(text_part(block))
            continue
        kind = field(block, "type")
        if kind == "text":
            parts.append(text_part(field(block, "text", "")))
        elif kind in ("thinking", "reasoning"):
            parts.append({"type": "reasoning", "content": field(block, "thinking") or field(block, "reasoning") or ""})
        elif kind in ("tool_use", "tool_call"):
            continue  # carried by the message's tool_calls
        else:
            parts.append({"type": str(kind)})
    return parts


def chat_message(msg: Any) -> dict[str, Any]:
    """A LangChain ``BaseMessage`` as a GenAI message."""
    kind = getattr(msg, "type", None) or "user"
    role = _ROLES.get(kind, getattr(msg, "role", None) or str(kind))
    if role == "tool":
        parts = [tool_call_response_part(getattr(msg, "tool_call_id", None), getattr(msg, "content", None))]
        return message("tool", parts)
    parts = _content_parts(getattr(msg, "content", None))
    for call in getattr(msg, "tool_calls", None) or ():
        parts.append(tool_call_part(field(call, "id"), field(call, "name", ""), parse_arguments(field(call, "args"))))
    name = getattr(msg, "name", None)
    return message(role, parts, name if isinstance(name, str) else None)


def texts_of(msg: Any) -> list[str]:
    """The text of a message, for token estimates."""
    content = getattr(msg, "content", msg)
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    for block in content if isinstance(content, list) else ():
        if isinstance(block, str):
            texts.append(block)
        elif field(block, "type") == "text":
            texts.append(str(field(block, "text", "")))
    return texts


def finish_reason_of(generation: Any) -> str | None:
    info = getattr(generation, "generation_info", None) or {}
    reason = info.get("finish_reason") or info.get("stop_reason")
    if not reason:
        meta = getattr(getattr(generation, "message", None), "response_metadata", None) or {}
        reason = meta.get("finish_reason") or meta.get("stop_reason")
    return str(reason) if reason else None


def usage_from_result(result: Any) -> tuple[Any, Mapping[str, Any]]:
    """``(usage_metadata of the first message, llm_output)`` of an ``LLMResult``."""
    usage = None
    for generations in getattr(result, "generations", None) or ():
        for generation in generations:
            msg = getattr(generation, "message", None)
            usage = getattr(msg, "usage_metadata", None) if msg is not None else None
            if usage:
                return usage, getattr(result, "llm_output", None) or {}
    return usage, getattr(result, "llm_output", None) or {}


def document(doc: Any, with_content: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    doc_id = getattr(doc, "id", None)
    meta = getattr(doc, "metadata", None) or {}
    if doc_id is None:
        doc_id = meta.get("id") or meta.get("source")
    if doc_id is not None:
        entry["id"] = str(doc_id)
    score = meta.get("score", meta.get("relevance_score"))
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        entry["score"] = float(score)
    if with_content:
        entry["content"] = getattr(doc, "page_content", None)
    return entry


def tool_output(output: Any) -> Any:
    """A tool's result: a ``ToolMessage``'s content, or the value itself."""
    content = getattr(output, "content", None)
    if content is not None and getattr(output, "type", None) == "tool":
        return parse_arguments(content)
    return parse_arguments(output) if isinstance(output, str) else output
