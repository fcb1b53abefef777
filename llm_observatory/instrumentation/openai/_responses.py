"""``responses.create`` / ``parse`` / ``stream`` (``chat``, ``openai.api.type=responses``) and
``responses.retrieve`` (``fetch_response``, no usage)."""

from __future__ import annotations

from typing import Any

from openai import AsyncStream, Stream

from ... import semconv as sc
from ...pricing import tokens
from .._core._inference import Inference
from .._core._messages import (
    field,
    items,
    message,
    output_finish_reason,
    reasoning_part,
    text_part,
    tool_call_part,
    tool_call_response_part,
)
from .._core._sdk import SdkHandler
from .._core._telemetry import Telemetry
from . import _messages as msgs
from ._common import (
    client_info,
    common_request_attributes,
    details,
    given,
    readable,
    response_refinements,
)

#: (a tuple: an odd event type, a list say, is then no member rather than unhashable)
_TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")
#: With content capture off, the events a stream keeps after its first: the terminal event (last,
#: with the whole response) and the ones just before it.
WINDOW = 4
_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}


def input_messages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [message("user", [text_part(value)])]
    out: list[dict[str, Any]] = []
    for item in items(value):
        kind = field(item, "type")
        if kind == "function_call":
            out.append(message("assistant", [tool_call_part(field(item, "call_id"), field(item, "name", ""),
                                                             field(item, "arguments"))]))
        elif kind == "function_call_output":
            out.append(message("tool", [tool_call_response_part(field(item, "call_id"),
                                                                field(item, "output"))]))
        elif kind in (None, "message"):
            out.append(message(field(item, "role", "user"), msgs.content_parts(field(item, "content"))))
        else:
            out.append(message("user", [{"type": str(kind)}]))
    return out


def input_texts(value: Any) -> list[list[str]]:
    if isinstance(value, str):
        return [[value]]
    out = []
    for item in items(value):
        content = field(item, "content")
        texts = [content] if isinstance(content, str) else [
            t for p in items(content) if isinstance(t := field(p, "text"), str)]
        for key in ("arguments", "output"):
            extra = field(item, key)
            if isinstance(extra, str):
                texts.append(extra)
        out.append(texts)
    return out


def finish_reason(response: Any) -> str | None:
    status = getattr(response, "status", None)
    if status == "completed":
        output = items(getattr(response, "output", None))
        return "tool_calls" if any(getattr(o, "type", None) == "function_call" for o in output) else "stop"
    if status == "incomplete":
        reason = getattr(getattr(response, "incomplete_details", None), "reason", None)
        if not isinstance(reason, str):
            return "length"
        return _INCOMPLETE_REASONS.get(reason, reason)
    if status in ("failed", "cancelled"):
        return "error"
    return None


def output_messages(response: Any, reason: str | None) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in items(getattr(response, "output", None)):
        kind = getattr(item, "type", None)
        if kind == "message":
            parts += msgs.content_parts(getattr(item, "content", None))
        elif kind == "function_call":
            parts.append(tool_call_part(getattr(item, "call_id", None), getattr(item, "name", ""),
                                        getattr(item, "arguments", None)))
        elif kind == "reasoning":
            texts = (getattr(s, "text", "") for s in items(getattr(item, "summary", None)))
            summary = " ".join(t for t in texts if isinstance(t, str))
            if summary:
                parts.append(reasoning_part(summary))
        elif kind:
            parts.append({"type": "server_tool_call", "id": getattr(item, "id", None), "name": kind,
                          "server_tool_call": {"type": kind}})
    return [message("assistant", parts, finish_reason=output_finish_reason(reason, msgs.OUTPUT_FINISH_REASON))]


def record_response(inference: Inference, response: Any) -> None:
    inference.response_id = getattr(response, "id", None)
    inference.response_model = getattr(response, "model", None)
    reason = finish_reason(response)
    inference.finish_reasons = [reason]
    if reason == "error" and getattr(response, "status", None) == "failed":  # (the API's error, returned)
        error = getattr(response, "error", None)
        inference.fail(getattr(error, "code", None), getattr(error, "message", None))
    usage = getattr(response, "usage", None)
    if usage is not None:
        inference.input_tokens = getattr(usage, "input_tokens", None)
        inference.output_tokens = getattr(usage, "output_tokens", None)
        cached = details(usage, "input_tokens_details", "cached_tokens")
        if cached is not None:
            inference.cache_read_tokens = cached
        written = details(usage, "input_tokens_details", "cache_write_tokens")
        if written is not None:
            inference.cache_write_tokens = written
        reasoning = details(usage, "output_tokens_details", "reasoning_tokens")
        if reasoning is not None:
            inference.reasoning_tokens = reasoning
    # the hosted web and file search tools are billed per call, on top of their tokens
    kinds = [getattr(item, "type", None) for item in items(getattr(response, "output", None))]
    if "web_search_call" in kinds or "file_search_call" in kinds:
        inference.add_extra_usage(web_searches=kinds.count("web_search_call"),
                                  storage_searches=kinds.count("file_search_call"))
    response_refinements(inference, response)
    if inference.tel.capture_content:
        inference.output_messages = output_messages(response, reason)


class ResponsesHandler(SdkHandler):
    stream_types = (Stream, AsyncStream)

    def __init__(self, is_async: bool) -> None:
        self.is_async = is_async
        self.site = "openai.responses"

    def start(self, tel: Telemetry, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Inference:
        provider, address, port = client_info(instance)
        model = kwargs.get("model")
        attrs: dict[str, Any] = {sc.OPENAI_API_TYPE: "responses"}
        common_request_attributes(kwargs, attrs)
        # (each attribute of its conventional type only: an odd argument is sent, not recorded)
        max_tokens = kwargs.get("max_output_tokens")
        if type(max_tokens) is int:
            attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        previous = kwargs.get("previous_response_id")
        if isinstance(previous, str):
            attrs[sc.GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID] = previous
        reasoning = kwargs.get("reasoning")
        effort = field(reasoning, "effort") if given(reasoning) else None
        if effort and isinstance(effort, str):
            attrs[sc.GEN_AI_REQUEST_REASONING_LEVEL] = effort
        text = kwargs.get("text")
        fmt = field(field(text, "format"), "type") if given(text) else None
        if fmt in ("json_schema", "json_object"):
            attrs[sc.GEN_AI_OUTPUT_TYPE] = "json"
        if given(kwargs.get("text_format")):
            attrs[sc.GEN_AI_OUTPUT_TYPE] = "json"
        conversation = kwargs.get("conversation")
        conversation_id = conversation if isinstance(conversation, str) else field(conversation, "id")
        if given(conversation) and isinstance(conversation_id, str):
            attrs[sc.GEN_AI_CONVERSATION_ID] = conversation_id
        stream = kwargs.get("stream") is True
        inference = Inference(tel, sc.Operation.CHAT, provider, model if isinstance(model, str) else None,
                              server_address=address, server_port=port, attributes=attrs, stream=stream)
        tools = kwargs.get("tools")
        if readable(tools) and tools:
            inference.tool_definitions = msgs.tool_definitions(tools, tel.capture_content)
        value = kwargs.get("input")
        if not readable(value):
            value = None
        if tel.capture_content:
            if value is not None:
                inference.input_messages = input_messages(value)
            instructions = kwargs.get("instructions")
            if isinstance(instructions, str):
                inference.system_instructions = [text_part(instructions)]
        if stream and value is not None:
            tokens.preload(model if isinstance(model, str) else None)
            texts = input_texts(value)
            instructions = kwargs.get("instructions")
            if isinstance(instructions, str):
                texts.append([instructions])
            inference.estimate = lambda: (tokens.count_messages(texts, provider, model), None)
        return inference

    def accumulator(self, inference: Inference) -> ResponseEvents:
        events = ResponseEvents(inference)
        if not inference.tel.capture_content and inference.provider == sc.Provider.OPENAI:
            # The terminal event carries the whole response: nothing between the first event and
            # the last few is read. (Azure's content filter may send events of its own at the end.)
            events.window = WINDOW
        return events

    def record(self, inference: Inference, result: Any) -> None:
        record_response(inference, result)


class ResponseEvents:
    """Reads a Responses stream at its end: the final response event carries everything. A long
    stream's older events are digested in batches first (:meth:`spill`); with content capture
    off, only the first event and the last few are kept (``window``)."""

    __slots__ = ("created", "failure", "hide", "inference", "terminal", "texts", "window")

    def __init__(self, inference: Inference) -> None:
        self.inference = inference
        self.hide = None
        #: > 0: only the first event and this many of the last are read (see ``_stream``)
        self.window = 0
        #: from spilled events: the ``response.created`` and terminal events, the text deltas
        self.created: Any = None
        self.terminal: Any = None
        #: an ``error`` event (the API's failure mid-stream: the SDK does not raise it)
        self.failure: Any = None
        self.texts: list[str] = []

    def spill(self, events: list[Any]) -> None:
        inference = self.inference
        keep_text = inference.tel.capture_content or inference.estimate is not None
        for event in events:
            kind = getattr(event, "type", None)
            if kind == "response.output_text.delta":
                if keep_text:
                    self.texts.append(event.delta)
            elif kind in _TERMINAL_EVENTS:
                self.terminal = event
            elif kind == "response.created" and self.created is None:
                self.created = event
            elif kind == "error":
                self.failure = event
            elif kind is None and getattr(event, "event", None) == "error":
                self.failure = getattr(event, "data", None)  # (openai 1.x: the event's JSON under ``data``)

    def finish(self, events: list[Any]) -> None:
        inference = self.inference
        terminal = self.terminal
        for event in reversed(events):
            if getattr(event, "type", None) in _TERMINAL_EVENTS:
                terminal = event
                break
        if terminal is not None:
            record_response(inference, terminal.response)
            inference.estimate = None if inference.input_tokens is not None else inference.estimate
            return
        # cut short: what arrived so far, read as the older events were
        self.spill(events)
        created = self.created
        if created is not None:
            inference.response_id = getattr(created.response, "id", None)
            inference.response_model = getattr(created.response, "model", None)
        inference.finish_reasons = [None]
        failure = self.failure
        if failure is not None:
            inference.fail(field(failure, "code"), field(failure, "message"))
        estimate_input = inference.estimate
        capture = inference.tel.capture_content
        text = "".join(self.texts)
        if estimate_input is not None:
            provider, model = inference.provider, inference.response_model or inference.request_model
            # With a window, the events between the first and the last few were not kept: openai
            # sends one token a text delta, so each counts one (the few structural events too).
            unread = inference.chunks - len(events) if self.window else 0

            def estimate() -> tuple[int | None, int | None]:
                return estimate_input()[0], unread + tokens.count_text(text, provider, model)

            inference.estimate = estimate
        if capture:
            inference.output_messages = [message("assistant", [text_part(text)], finish_reason="error")]


class RetrieveHandler(SdkHandler):
    """``responses.retrieve``: a ``fetch_response`` span; it reports no usage."""

    stream_types = (Stream, AsyncStream)

    def __init__(self, is_async: bool) -> None:
        self.is_async = is_async
        self.site = "openai.responses.retrieve"

    def start(self, tel: Telemetry, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Inference:
        provider, address, port = client_info(instance)
        response_id = args[0] if args else kwargs.get("response_id")
        attrs: dict[str, Any] = {sc.OPENAI_API_TYPE: "responses"}
        if isinstance(response_id, str):
            attrs[sc.GEN_AI_RESPONSE_ID] = response_id
        cursor = kwargs.get("starting_after")
        if given(cursor):
            attrs[sc.GEN_AI_REQUEST_STREAM_CURSOR] = cursor
        return Inference(tel, sc.Operation.FETCH_RESPONSE, provider, None, server_address=address,
                         server_port=port, attributes=attrs, stream=kwargs.get("stream") is True)

    def accumulator(self, inference: Inference) -> _RetrieveEvents:
        return _RetrieveEvents(inference)

    def record(self, inference: Inference, result: Any) -> None:
        _record_fetched(inference, result)


def _record_fetched(inference: Inference, response: Any) -> None:
    inference.response_model = getattr(response, "model", None)
    status = getattr(response, "status", None)
    if isinstance(status, str):
        inference.attributes[sc.GEN_AI_RESPONSE_STATUS] = status


class _RetrieveEvents:
    __slots__ = ("hide", "inference", "latest")

    def __init__(self, inference: Inference) -> None:
        self.inference = inference
        self.hide = None
        #: the latest state of the response in the spilled events
        self.latest: Any = None

    @staticmethod
    def _latest(events: list[Any]) -> Any:
        for event in reversed(events):
            response = getattr(event, "response", None)
            if response is not None:
                return response
        return None

    def spill(self, events: list[Any]) -> None:
        response = self._latest(events)
        if response is not None:
            self.latest = response

    def finish(self, events: list[Any]) -> None:
        response = self._latest(events)  # the latest state of the response
        if response is None:
            response = self.latest
        if response is not None:
            _record_fetched(self.inference, response)
        self.inference.stream = False  # a resumed stream has no finish reasons of its own to report
