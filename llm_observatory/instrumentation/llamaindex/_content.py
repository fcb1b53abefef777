"""LlamaIndex objects → GenAI attributes: which methods get spans, providers, messages, usage."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context

from ... import semconv as sc
from .._core._inference import Inference
from .._core._messages import field, message, text_part, tool_call_part

if TYPE_CHECKING:
    from opentelemetry.context import Context

ENGINE = "engine"
WORKFLOW = "workflow"
RETRIEVER = "retriever"
TOOL = "tool"
SYNTHESIZER = "synthesize"
POSTPROCESSOR = "postprocess"

#: (base class path, methods, kind): the dispatcher spans that become OpenTelemetry spans.
_MAPPED: tuple[tuple[str, str, frozenset[str], str], ...] = (
    ("llama_index.core.base.base_query_engine", "BaseQueryEngine", frozenset({"query", "aquery"}), ENGINE),
    ("llama_index.core.chat_engine.types", "BaseChatEngine",
     frozenset({"chat", "achat", "stream_chat", "astream_chat"}), ENGINE),
    ("llama_index.core.base.base_retriever", "BaseRetriever", frozenset({"retrieve", "aretrieve"}), RETRIEVER),
    ("llama_index.core.postprocessor.types", "BaseNodePostprocessor",
     frozenset({"postprocess_nodes", "apostprocess_nodes", "_postprocess_nodes", "_apostprocess_nodes"}),
     POSTPROCESSOR),
    ("llama_index.core.response_synthesizers.base", "BaseSynthesizer",
     frozenset({"synthesize", "asynthesize"}), SYNTHESIZER),
    ("llama_index.core.tools.types", "BaseTool", frozenset({"__call__", "call", "acall"}), TOOL),
    ("workflows", "Workflow", frozenset({"run"}), WORKFLOW),
    ("llama_index.core.workflow.workflow", "Workflow", frozenset({"run"}), WORKFLOW),  # before llama-index-workflows
)
_classes: list[tuple[type, frozenset[str], str]] | None = None

#: Module of a LlamaIndex integration (``llama_index.llms.<x>``) → ``gen_ai.provider.name``.
PROVIDERS = {
    "openai": sc.Provider.OPENAI, "azure_openai": sc.Provider.AZURE_OPENAI, "anthropic": sc.Provider.ANTHROPIC,
    "bedrock": sc.Provider.AWS_BEDROCK, "bedrock_converse": sc.Provider.AWS_BEDROCK,
    "vertex": sc.Provider.GCP_VERTEX_AI, "gemini": sc.Provider.GCP_GEMINI, "google_genai": sc.Provider.GCP_GEMINI,
    "mistralai": sc.Provider.MISTRAL_AI, "cohere": sc.Provider.COHERE, "groq": sc.Provider.GROQ,
    "deepseek": sc.Provider.DEEPSEEK,
}


def _load_classes() -> list[tuple[type, frozenset[str], str]]:
    import importlib

    global _classes
    if _classes is None:
        found = []
        for module, name, methods, kind in _MAPPED:
            try:
                cls = getattr(importlib.import_module(module), name, None)
            except ImportError:
                cls = None
            if isinstance(cls, type):
                found.append((cls, methods, kind))
        _classes = found
    return _classes


def kind_of(instance: Any, method: str) -> str | None:
    """The kind of span a dispatcher span of ``instance.method`` gets (``None``: none of its own).
    Uncached: :func:`span_kind` caches it by class and method."""
    if instance is None:
        return None
    kind = None
    for cls, methods, candidate in _load_classes():
        if method in methods and isinstance(instance, cls):
            kind = candidate
            break
    if kind == POSTPROCESSOR and "rerank" in type(instance).__name__.lower():
        kind = "rerank"
    return kind


_span_kinds: dict[tuple[type, str], str | None] = {}
_mapped_types: dict[type, bool] = {}


def span_kind(instance: Any, span_id: str) -> str | None:
    """:func:`kind_of` for a dispatcher span id (``Class.method-<uuid>``), cached by class and prefix."""
    if instance is None:
        return None
    cls = type(instance)
    mapped = _mapped_types.get(cls)
    if mapped is None:
        if len(_mapped_types) > 4096:  # classes made at run time: keep the caches bounded
            _mapped_types.clear()
            _span_kinds.clear()
        mapped = _mapped_types[cls] = any(issubclass(cls, base) for base, _, _ in _load_classes())
    if not mapped:  # most of a query's dispatcher spans: splitters, models, prompts
        return None
    key = (cls, span_id.partition("-")[0])
    try:
        return _span_kinds[key]
    except KeyError:
        pass
    kind = _span_kinds[key] = kind_of(instance, key[1].rpartition(".")[2])
    return kind


def name_of(instance: Any, kind: str) -> str:
    if kind == TOOL:
        name = field(getattr(instance, "metadata", None), "name")
        if isinstance(name, str) and name:
            return name
    if kind == WORKFLOW and is_agent(instance):
        name = getattr(instance, "name", None)
        if isinstance(name, str) and name:
            return name
    return type(instance).__name__


_agents: dict[type, bool] = {}


def is_agent(instance: Any) -> bool:
    """LlamaIndex's agents (``FunctionAgent``, ``ReActAgent``, ``AgentWorkflow``) are workflows."""
    cls = type(instance)
    agent = _agents.get(cls)
    if agent is None:
        agent = any(base.__name__ in ("BaseWorkflowAgent", "AgentWorkflow") for base in cls.__mro__)
        if len(_agents) < 1024:
            _agents[cls] = agent
    return agent


def tool_description(instance: Any) -> str | None:
    description = field(getattr(instance, "metadata", None), "description")
    return description if isinstance(description, str) and description else None


def inputs_of(bound_args: Any) -> Any:
    """The arguments a method was called with (``self`` left out), for content capture."""
    arguments = dict(getattr(bound_args, "arguments", None) or {})
    arguments.pop("self", None)
    kwargs = arguments.pop("kwargs", None)
    if isinstance(kwargs, dict):
        arguments.update(kwargs)
    if len(arguments) == 1:
        value = next(iter(arguments.values()))
        return query_text(value) if query_text(value) is not None else value
    return arguments or None


#: Whether a class has an attribute, by (class, name): asked of a pydantic model class, a missing
#: one costs a raised and caught exception (its metaclass's ``__getattr__``), microseconds a time.
_class_has: dict[tuple[type, str], bool] = {}


def attr(obj: Any, name: str) -> Any:
    """``obj.name``, or ``None``: like ``getattr(obj, name, None)``, without the cost of a missing
    attribute of a pydantic model (its ``__getattr__`` raises, microseconds a time)."""
    fields = getattr(obj, "__dict__", None)
    if fields is not None and name in fields:
        return fields[name]
    if fields is None:
        return getattr(obj, name, None)
    key = (type(obj), name)
    has = _class_has.get(key)
    if has is None:
        has = hasattr(key[0], name)
        if len(_class_has) < 4096:
            _class_has[key] = has
    if has:
        return getattr(obj, name, None)
    extra = getattr(obj, "__pydantic_extra__", None)  # a pydantic model's undeclared fields
    return extra.get(name) if isinstance(extra, dict) else None


def query_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    text = getattr(value, "query_str", None)
    return text if isinstance(text, str) else None


_providers: dict[tuple[type, Any], str] = {}


def provider_of(instance: Any, model_dict: dict[str, Any]) -> str:
    """``gen_ai.provider.name`` of an LLM or embedding model (cached by class)."""
    key = (type(instance), model_dict.get("class_name"))
    try:
        return _providers[key]
    except (KeyError, TypeError):
        pass
    provider = _provider_of(instance, model_dict)
    if len(_providers) < 1024:
        try:
            _providers[key] = provider
        except TypeError:  # an unhashable class name
            pass
    return provider


def _provider_of(instance: Any, model_dict: dict[str, Any]) -> str:
    module = type(instance).__module__ if instance is not None else ""
    parts = module.split(".")
    if len(parts) > 2 and parts[0] == "llama_index" and parts[1] in ("llms", "embeddings"):
        return PROVIDERS.get(parts[2], parts[2])
    name = model_dict.get("class_name") or (type(instance).__name__ if instance is not None else "")
    return "llamaindex" if not name else str(name).lower()


def model_of(model_dict: dict[str, Any]) -> str | None:
    model = model_dict.get("model") or model_dict.get("model_name")
    if not model or model == "unknown":
        return None
    return str(model)


def request_attributes(model_dict: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    temperature = model_dict.get("temperature")
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        attrs[sc.GEN_AI_REQUEST_TEMPERATURE] = float(temperature)
    max_tokens = model_dict.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    top_p = (model_dict.get("additional_kwargs") or {}).get("top_p")
    if isinstance(top_p, (int, float)) and not isinstance(top_p, bool):
        attrs[sc.GEN_AI_REQUEST_TOP_P] = float(top_p)
    return attrs


def chat_message(msg: Any) -> dict[str, Any]:
    role = str(field(getattr(msg, "role", None), "value", getattr(msg, "role", "user")) or "user")
    parts: list[dict[str, Any]] = []
    content = getattr(msg, "content", None)
    if content:
        parts.append(text_part(str(content)))
    for call in (getattr(msg, "additional_kwargs", None) or {}).get("tool_calls") or ():
        function = field(call, "function")
        parts.append(tool_call_part(field(call, "id"), str(field(function, "name", "")), field(function, "arguments")))
    return message("tool" if role == "tool" else role, parts)


def prompt_of(event: Any) -> list[dict[str, Any]]:
    messages = attr(event, "messages")
    if messages is not None:
        return [chat_message(m) for m in messages]
    return [message("user", [text_part(str(attr(event, "prompt") or ""))])]


def texts_of_message(msg: dict[str, Any]) -> list[str]:
    return [str(p.get("content", "")) for p in msg.get("parts", ()) if p.get("type") == "text"]


def _usage(inference: Inference, raw: Any, extra: dict[str, Any]) -> None:
    usage = field(raw, "usage")
    sdk = type(usage).__module__.split(".", 1)[0]
    if sdk == "anthropic" or (sdk == "openai" and hasattr(usage, "prompt_tokens")):
        # the provider SDK's own usage object: read as its adapter reads it (Anthropic's input
        # excludes the cache; the cache, audio and reasoning details), so both count alike
        if sdk == "anthropic":
            from ..anthropic._handlers import set_usage
        else:
            from ..openai._chat import set_usage
        set_usage(inference, usage)
    elif usage is not None:
        prompt = field(usage, "prompt_tokens", field(usage, "input_tokens"))
        completion = field(usage, "completion_tokens", field(usage, "output_tokens"))
        if isinstance(prompt, int):
            inference.input_tokens = prompt
        if isinstance(completion, int):
            inference.output_tokens = completion
    elif isinstance(extra.get("prompt_tokens"), int):
        inference.input_tokens = extra["prompt_tokens"]
        if isinstance(extra.get("completion_tokens"), int):
            inference.output_tokens = extra["completion_tokens"]


def model_result(inference: Inference, event: Any) -> None:
    """Usage, model, finish reason and output from an end event (chat, completion, embedding)."""
    if type(event).__name__ == "EmbeddingEndEvent":
        embeddings = getattr(event, "embeddings", None) or []
        if embeddings:
            inference.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = len(embeddings[0])
        inference.state = list(getattr(event, "chunks", None) or [])
        return
    response = attr(event, "response")
    if response is None:
        return
    raw = attr(response, "raw")
    extra = attr(response, "additional_kwargs") or {}
    _usage(inference, raw, extra)
    model = field(raw, "model")
    if isinstance(model, str) and model:
        inference.response_model = model
    response_id = field(raw, "id")
    if isinstance(response_id, str) and response_id:
        inference.response_id = response_id
    choices = field(raw, "choices")
    reason = field(choices[0], "finish_reason") if choices else field(raw, "stop_reason")
    if isinstance(reason, str) and reason:
        inference.finish_reasons = [reason]
    msg = attr(response, "message")
    text = str(attr(msg, "content") or "") if msg is not None else str(attr(response, "text") or "")
    inference.state = [text]
    if inference.tel.capture_content:
        out = chat_message(msg) if msg is not None else message("assistant", [text_part(text)])
        out["role"] = "assistant"
        out["finish_reason"] = reason if isinstance(reason, str) else ""
        inference.output_messages = [out]


def document(node: Any) -> dict[str, Any]:
    """A retrieved ``NodeWithScore``: id, score and text (content capture is on)."""
    inner = getattr(node, "node", node)
    entry: dict[str, Any] = {}
    node_id = getattr(inner, "node_id", None) or getattr(inner, "id_", None)
    if node_id:
        entry["id"] = str(node_id)
    score = getattr(node, "score", None)
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        entry["score"] = float(score)
    get_content = getattr(inner, "get_content", None)
    entry["content"] = get_content() if callable(get_content) else getattr(inner, "text", None)
    return entry


def _in_context(gen: Iterator[Any], ctx: Context) -> Iterator[Any]:
    """``gen``, each step run in ``ctx``: a streamed response's model call, made lazily while the
    application iterates, nests under the query that returned it. (Where ``ctx`` is still current,
    as when the model call started before the query returned, a step runs as it is.)"""
    try:
        while True:
            token = None if otel_context.get_current() is ctx else otel_context.attach(ctx)
            try:
                item = next(gen)
            except StopIteration:
                return
            finally:
                if token is not None:
                    otel_context.detach(token)
            yield item
    finally:
        close = getattr(gen, "close", None)
        if close is not None:
            close()


async def _in_context_async(gen: AsyncIterator[Any], ctx: Context) -> AsyncIterator[Any]:
    try:
        while True:
            token = None if otel_context.get_current() is ctx else otel_context.attach(ctx)
            try:
                item = await gen.__anext__()
            except StopAsyncIteration:
                return
            finally:
                if token is not None:
                    otel_context.detach(token)
            yield item
    finally:
        aclose = getattr(gen, "aclose", None)
        if aclose is not None:
            await aclose()


def is_streaming_response(result: Any) -> bool:
    return type(result).__name__ in ("StreamingResponse", "AsyncStreamingResponse")


def keep_stream_context(result: Any, ctx: Context, on_drop: Callable[[], None]) -> None:
    """Let a ``StreamingResponse``'s lazy generator run in the context of the span that returned it;
    ``on_drop`` runs when that generator is garbage-collected (after its end, or unread)."""
    if not is_streaming_response(result):
        return
    gen = getattr(result, "response_gen", None)
    if gen is None or getattr(gen, "gi_code", None) is _in_context.__code__ \
            or getattr(gen, "ag_code", None) is _in_context_async.__code__:
        return
    if inspect.isgenerator(gen):
        wrapped: Any = _in_context(gen, ctx)
    elif inspect.isasyncgen(gen):
        wrapped = _in_context_async(gen, ctx)
    else:
        return
    weakref.finalize(wrapped, on_drop)
    result.response_gen = wrapped


def is_stream(result: Any) -> bool:
    return type(result).__name__ in ("StreamingResponse", "AsyncStreamingResponse", "StreamingAgentChatResponse",
                                     "WorkflowHandler") or hasattr(result, "__next__") or hasattr(result, "__anext__")


def output_of(result: Any) -> Any:
    response = getattr(result, "response", None)
    if isinstance(response, str):
        return response
    return result
