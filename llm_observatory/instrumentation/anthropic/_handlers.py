"""``messages.create`` / ``parse`` / ``stream()`` (``chat``) and ``messages.count_tokens``."""

from __future__ import annotations

import inspect
import math
import threading
import weakref
from typing import Any

from ... import semconv as sc
from ...pricing import tokens
from .._core._guard import report
from .._core._inference import Inference, token_count
from .._core._messages import field, message, output_finish_reason, text_part, tool_call_part
from .._core._sdk import SdkHandler, given, param, readable, server_of, stop_sequences
from .._core._stream import trace_stream
from .._core._telemetry import Telemetry
from . import _content as content


def _stream_types() -> tuple[type, ...]:
    from anthropic import AsyncStream, Stream

    return (Stream, AsyncStream)


def client_info(instance: Any) -> tuple[str, str | None, int | None]:
    """``(provider, server.address, server.port)`` of a resource instance (Bedrock, Vertex, direct)."""
    client = getattr(instance, "_client", None)
    name = type(client).__name__
    provider = sc.Provider.ANTHROPIC
    if "Bedrock" in name:
        provider = sc.Provider.AWS_BEDROCK
    elif "Vertex" in name:
        provider = sc.Provider.GCP_VERTEX_AI
    host, port = server_of(client)
    return provider, host, port


def set_usage(inference: Inference, usage: Any) -> None:
    """Anthropic's ``input_tokens`` excludes the cache: the total input adds reads and writes."""
    if usage is None:
        return
    uncached = token_count(getattr(usage, "input_tokens", None))
    if uncached is not None:
        read = token_count(getattr(usage, "cache_read_input_tokens", None))
        write = token_count(getattr(usage, "cache_creation_input_tokens", None))
        inference.input_tokens = uncached + (read or 0) + (write or 0)
        inference.cache_read_tokens = read
        inference.cache_write_tokens = write
    output = token_count(getattr(usage, "output_tokens", None))
    if output is not None:
        inference.output_tokens = output
    set_usage_details(inference, usage)


def _fields(usage: Any) -> Any:
    """A pydantic usage object's fields and extras as one dict, so that a field its SDK version
    lacks (``message_delta``'s usage has no ``cache_creation`` nor ``speed``) costs a dict miss,
    not pydantic's failed attribute lookup (~2 µs each); anything else as it is."""
    extra: Any = getattr(usage, "__pydantic_extra__", _NOT_PYDANTIC)  # (a slot of every pydantic 2 model)
    if extra is _NOT_PYDANTIC:
        return usage
    values = getattr(usage, "__dict__", None)
    if not isinstance(values, dict):
        return usage
    return {**values, **extra} if extra else values


_NOT_PYDANTIC = object()
_DETAILS = ("cache_creation", "server_tool_use", "output_tokens_details", "speed")


def set_usage_details(inference: Inference, usage: Any) -> None:
    """What a usage object details, where the SDK has it: the cache writes kept for an hour (of
    the cache writes), the web searches run, the thinking tokens (of the output tokens), and the
    speed the call ran at (``fast`` mode is priced higher)."""
    # (an SDK older than these fields keeps them as dicts, or as extras)
    usage = _fields(usage)
    if type(usage) is dict:
        get = usage.get
        cache, tools, details, speed = get("cache_creation"), get("server_tool_use"), \
            get("output_tokens_details"), get("speed")
    else:
        cache, tools, details, speed = (field(usage, name) for name in _DETAILS)
    one_hour = None if cache is None else field(cache, "ephemeral_1h_input_tokens")
    searches = None if tools is None else field(tools, "web_search_requests")
    if one_hour or searches:
        inference.add_extra_usage(cache_write_1h_tokens=one_hour, web_searches=searches)
    thinking = None if details is None else field(details, "thinking_tokens")
    if isinstance(thinking, int):
        inference.reasoning_tokens = thinking
    if isinstance(speed, str) and speed != "standard":
        inference.attributes[sc.ANTHROPIC_RESPONSE_SPEED] = speed
        inference.price_variant = ("speed", speed)


def set_stop_reason(inference: Inference, reason: Any) -> None:
    if isinstance(reason, str):
        inference.finish_reasons = [content.FINISH_REASONS.get(reason, reason)]
        inference.raw_finish_reasons = [reason]


def record_message(inference: Inference, msg: Any) -> None:
    inference.response_id = getattr(msg, "id", None)
    inference.response_model = getattr(msg, "model", None)
    reason = getattr(msg, "stop_reason", None)
    set_stop_reason(inference, reason)
    set_usage(inference, getattr(msg, "usage", None))
    if inference.tel.capture_content:
        inference.output_messages = [message("assistant", content.parts(getattr(msg, "content", None)),
                                             finish_reason=output_finish_reason(reason, content.OUTPUT_FINISH_REASONS))]


_REAL = (int, float)
#: numeric request parameters: their attribute, and the types taken (``bool`` never)
_PARAMS: dict[str, tuple[str, Any]] = {
    "temperature": (sc.GEN_AI_REQUEST_TEMPERATURE, _REAL), "top_p": (sc.GEN_AI_REQUEST_TOP_P, _REAL),
    "max_tokens": (sc.GEN_AI_REQUEST_MAX_TOKENS, int), "top_k": (sc.GEN_AI_REQUEST_TOP_K, int),
}
#: the other request parameters read for attributes
_OPTIONAL = frozenset({"stop_sequences", "output_config", "output_format"})


class MessagesHandler(SdkHandler):
    """``messages.create`` and ``parse`` (and the request of the ``stream()`` helper)."""

    stream_types = _stream_types()

    def __init__(self, is_async: bool, beta: bool = False) -> None:
        self.is_async = is_async
        self.site = "anthropic.beta.messages" if beta else "anthropic.messages"

    def start(self, tel: Telemetry, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Inference:
        provider, address, port = client_info(instance)
        model = kwargs.get("model")
        attrs: dict[str, Any] = {}
        # only the parameters given are visited (all of them when an extra_body may carry them), in
        # name order, so the attribute order is fixed
        names = _PARAMS.keys() if isinstance(kwargs.get("extra_body"), dict) else _PARAMS.keys() & kwargs.keys()
        for key in sorted(names):
            value = param(kwargs, key)
            attr, number = _PARAMS[key]
            if isinstance(value, number) and not isinstance(value, bool):
                attrs[attr] = float(value) if number is _REAL else value
        if not _OPTIONAL.isdisjoint(kwargs):
            stop = stop_sequences(kwargs.get("stop_sequences"))
            if stop is not None:
                attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = stop
            output_config = kwargs.get("output_config")
            effort = field(output_config, "effort") if given(output_config) else None
            if isinstance(effort, str):
                attrs[sc.GEN_AI_REQUEST_REASONING_LEVEL] = effort
            if given(kwargs.get("output_format")) or (given(output_config) and field(output_config, "format")):
                attrs[sc.GEN_AI_OUTPUT_TYPE] = "json"
        stream = kwargs.get("stream") is True
        inference = Inference(tel, sc.Operation.CHAT, provider, model if isinstance(model, str) else None,
                              server_address=address, server_port=port, attributes=attrs, stream=stream)
        tools = kwargs.get("tools")
        if readable(tools) and tools:
            inference.tool_definitions = content.tool_definitions(tools, tel.capture_content)
        messages = kwargs.get("messages")
        system = kwargs.get("system")
        if tel.capture_content:
            if readable(messages):
                inference.input_messages = content.input_messages(messages)
            if readable(system):
                inference.system_instructions = content.system_parts(system)
        if stream and readable(messages):
            texts = [content.texts(field(m, "content")) for m in messages]
            if readable(system):
                texts.append(content.texts(system))
            inference.estimate = lambda: (tokens.count_messages(texts, provider, model), None)
        return inference

    def accumulator(self, inference: Inference) -> MessageEvents:
        events = MessageEvents(inference)
        if not inference.tel.capture_content:
            # Usage always arrives (message_start, then message_delta near the end): with content
            # off, nothing between the first event and the last few is read (see ``_stream``).
            events.window = WINDOW
        return events

    def record(self, inference: Inference, result: Any) -> None:
        record_message(inference, result)


#: How many of a stream's last events are kept when only its first and last are read: the last
#: content block's stop, ``message_delta`` (stop reason, usage) and ``message_stop``, and one more.
WINDOW = 4


def _delta_piece(event: Any) -> str | None:
    """The text, JSON or thinking a ``content_block_delta`` carries (``None`` for other events)."""
    if event.type != "content_block_delta":
        return None
    delta = event.delta
    piece = getattr(delta, "text", None) or getattr(delta, "partial_json", None) or getattr(delta, "thinking", None)
    return piece if isinstance(piece, str) else None


class MessageEvents:
    """Reads a message stream at its end: ``message_start`` (id, model, input usage) comes first,
    the last ``message_delta`` (stop reason, cumulative usage) just before the end. The content
    blocks are read from every event only when content capture or a token estimate needs them.
    A long stream's older events are digested in batches first (:meth:`spill`); with content off,
    only the first event and the last :data:`WINDOW` are kept at all (``window``)."""

    __slots__ = ("blocks", "hide", "inference", "reason", "started", "usage", "window")

    def __init__(self, inference: Inference) -> None:
        self.inference = inference
        self.hide = None
        self.started = False
        #: from spilled events: the latest stop reason and usage, and the content blocks
        #: (index -> [type, id, name, pieces])
        self.reason: str | None = None
        self.usage: Any = None
        self.blocks: dict[int, list[Any]] = {}
        #: > 0: only the first event and this many of the last are read
        self.window = 0

    def _start(self, events: list[Any]) -> None:
        inference = self.inference
        for event in events:
            if event.type == "message_start":
                self.started = True
                msg = event.message
                inference.response_id = getattr(msg, "id", None)
                inference.response_model = getattr(msg, "model", None)
                set_usage(inference, getattr(msg, "usage", None))
                inference.output_tokens = None  # message_start's output count is provisional
                break

    def _blocks(self, events: list[Any]) -> dict[int, list[Any]]:
        blocks = self.blocks
        for event in events:
            kind = event.type
            if kind == "content_block_delta":
                index = getattr(event, "index", None)
                block = blocks.get(index) if type(index) is int else None  # (an odd index: no block)
                if block is not None:
                    piece = _delta_piece(event)
                    if piece:
                        block[3].append(piece)
            elif kind == "content_block_start":
                index = getattr(event, "index", None)
                if type(index) is int:
                    b = getattr(event, "content_block", None)
                    blocks[index] = [getattr(b, "type", None), getattr(b, "id", None), getattr(b, "name", None), []]
        return blocks

    def spill(self, events: list[Any]) -> None:
        if not self.started:
            self._start(events)
        for event in events:
            if event.type == "message_delta":
                reason = getattr(event.delta, "stop_reason", None)
                if reason is not None:
                    self.reason = reason
                usage = getattr(event, "usage", None)
                if usage is not None:
                    self.usage = usage
        if self.inference.tel.capture_content or self.inference.estimate is not None:  # either may need them
            self._blocks(events)

    def _apply_usage(self, usage: Any) -> None:
        inference = self.inference
        output = getattr(usage, "output_tokens", None)
        if isinstance(output, int):
            inference.output_tokens = output
        if isinstance(getattr(usage, "input_tokens", None), int):
            set_usage(inference, usage)
        else:  # an older API's delta: output tokens, and perhaps the searches run
            set_usage_details(inference, usage)

    def finish(self, events: list[Any]) -> None:
        inference = self.inference
        if not self.started:
            self._start(events)
        reason: str | None = None
        usage_seen = False
        for event in reversed(events):
            if event.type != "message_delta":
                continue
            if reason is None:
                reason = getattr(event.delta, "stop_reason", None)
            usage = getattr(event, "usage", None)
            if usage is not None and not usage_seen:  # the last one is cumulative
                usage_seen = True
                self._apply_usage(usage)
            if reason is not None and usage_seen:
                break
        if not usage_seen and self.usage is not None:
            self._apply_usage(self.usage)
        if reason is None:
            reason = self.reason
        if reason is not None:
            set_stop_reason(inference, reason)
        else:
            inference.finish_reasons = [None]
        capture = inference.tel.capture_content
        needs_estimate = inference.output_tokens is None and inference.estimate is not None
        if not (capture or needs_estimate):
            return
        blocks = self._blocks(events)
        if needs_estimate and inference.estimate is not None:
            chars: float = sum(len(piece) for b in blocks.values() for piece in b[3])
            unread = inference.chunks - len(events) if self.window else 0
            if unread > 0:
                # A cut stream read through a window: the events between the first and the last
                # few were let go. Each counts as many characters as the deltas kept had on average.
                pieces = [len(p) for p in map(_delta_piece, events) if p]
                chars = sum(pieces) + unread * (sum(pieces) / len(pieces) if pieces else tokens.CHARS_PER_TOKEN)
            estimate_input = inference.estimate
            inference.estimate = lambda: (estimate_input()[0], math.ceil(chars / tokens.CHARS_PER_TOKEN))
        if capture:
            parts: list[dict[str, Any]] = []
            for kind, block_id, name, pieces in blocks.values():
                joined = "".join(pieces)
                if kind == "text":
                    parts.append(text_part(joined))
                elif kind == "thinking":
                    parts.append({"type": "reasoning", "content": joined})
                elif kind in ("tool_use", "server_tool_use"):
                    parts.append(tool_call_part(block_id, name or "", joined))
            inference.output_messages = [message("assistant", parts, finish_reason=output_finish_reason(
                reason, content.OUTPUT_FINISH_REASONS))]


class CountTokensHandler(SdkHandler):
    """``messages.count_tokens``: a span of its own (``count_tokens {model}``), never counted as spend."""

    def __init__(self, is_async: bool) -> None:
        self.is_async = is_async
        self.site = "anthropic.count_tokens"

    def start(self, tel: Telemetry, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Inference:
        provider, address, port = client_info(instance)
        model = kwargs.get("model")
        inference = Inference(tel, "count_tokens", provider, model if isinstance(model, str) else None,
                              server_address=address, server_port=port)
        return inference

    def record(self, inference: Inference, result: Any) -> None:
        counted = getattr(result, "input_tokens", None)
        if isinstance(counted, int):
            inference.attributes[sc.LLM_COUNTED_INPUT_TOKENS] = counted


def _legacy_helpers() -> bool:
    """anthropic 0.x helpers build their ``MessageStream`` from a response rather than from a stream."""
    try:
        from anthropic.lib.streaming._messages import MessageStream
    except ImportError:
        return False
    return "response" in inspect.signature(MessageStream.__init__).parameters


LEGACY_HELPERS = _legacy_helpers()

#: anthropic 0.x: an inference started by a helper's request, waiting for the helper to build its
#: ``MessageStream`` (which it does at once, in the same thread, from the request's response).
_handover = threading.local()


def _traced(raw: Any, is_async: bool, inference: Inference) -> Any:
    """The helper's stream, traced.

    anthropic 2.x reads the stream it is handed: it gets it traced. 0.x builds a new
    ``MessageStream`` from the response instead, so the inference is handed over to that object
    (see :func:`adopt_handover`); if it is never built, the inference ends when the stream is collected.
    """
    if not LEGACY_HELPERS:
        return trace_stream(raw, inference, MessageEvents(inference), is_async)
    # if the helper never builds its stream, end the inference when this one is collected
    fallback = weakref.finalize(raw, inference.end_later, None, cut=True)
    _handover.pending = (inference, is_async, fallback)
    return raw


def adopt_handover(message_stream: Any) -> None:
    """anthropic 0.x: give a just-built helper stream the inference its request started."""
    pending = getattr(_handover, "pending", None)
    if pending is None:
        return
    _handover.pending = None
    inference, is_async, fallback = pending
    fallback.detach()
    message_stream._raw_stream = trace_stream(message_stream._raw_stream, inference, MessageEvents(inference), is_async)


def traced_stream_request(handler: MessagesHandler, telemetry: Any, manager: Any, resource: Any,
                          kwargs: dict[str, Any]) -> None:
    """Make the ``stream()`` helper's pending request traced: replace the manager's request callable.

    The helper sends its request only at ``with`` entry, through a callable (sync) or an un-awaited
    coroutine (async) that the manager keeps in a private attribute. It is replaced by one that
    starts our inference at that moment and returns the traced stream to the helper.
    """
    from .._core._suppression import is_suppressed

    name = next((n for n in vars(manager) if n.endswith("__api_request")), None)
    if name is None:
        report("anthropic.stream_helper", AttributeError("the stream helper's request was not found"))
        return
    original = vars(manager)[name]

    def start() -> Inference | None:
        if is_suppressed():
            return None
        try:
            return handler.start(telemetry(), resource, (), {**kwargs, "stream": True})
        except Exception as exc:
            report("anthropic.stream_helper.start", exc)
            return None

    if handler.is_async:
        async def request_async() -> Any:
            inference = start()
            if inference is None:
                return await original
            token = inference.activate()
            try:
                raw = await original
            except BaseException as exc:
                inference.deactivate(token)
                inference.end(exc)
                raise
            inference.deactivate(token)
            return _traced(raw, True, inference)

        setattr(manager, name, request_async())
    else:
        def request() -> Any:
            inference = start()
            if inference is None:
                return original()
            token = inference.activate()
            try:
                raw = original()
            except BaseException as exc:
                inference.deactivate(token)
                inference.end(exc)
                raise
            inference.deactivate(token)
            return _traced(raw, False, inference)

        setattr(manager, name, request)

