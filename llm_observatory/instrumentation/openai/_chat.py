"""``chat.completions.create`` / ``parse`` / ``stream``: the ``chat`` inference."""

from __future__ import annotations

from typing import Any

from openai import AsyncStream, Stream

from ... import semconv as sc
from ...pricing import tokens
from .._core._inference import Inference
from .._core._messages import field, items, message, output_finish_reason, text_part, tool_call_part
from .._core._sdk import SdkHandler, choice_count, choice_index
from .._core._telemetry import Telemetry
from . import _messages as msgs
from ._common import (
    client_info,
    common_request_attributes,
    count,
    given,
    raw_mode,
    readable,
    response_refinements,
)

#: ``Inference.state`` of a stream whose usage chunk was requested by us, not by the app.
HIDE_USAGE_CHUNK = "hide-usage-chunk"
#: ``Inference.state`` of a stream whose usage chunk the app requested.
USAGE_ASKED = "usage-asked"
#: ``Inference.state`` of a stream without usage from OpenAI's own API and without tools: its
#: text comes one token a chunk, so counting the chunks estimates its output tokens.
TOKEN_A_CHUNK = "token-a-chunk"
#: The host whose chat streams send one token a chunk (OpenAI-compatible servers may batch them).
OPENAI_HOST = "api.openai.com"
#: Requests whose streams are not counted a token a chunk: tool-call arguments come several tokens a
#: chunk, and audio chunks carry audio.
_CHUNKS_NOT_TOKENS = ("tools", "functions", "audio")

#: How many of a stream's last chunks are kept when only its first and last are read (content
#: off, one choice, and usage on its way or counted from the chunks): the finish reason and
#: usage chunks, and room for chunks a server sends after them.
WINDOW = 4

#: The request parameters read below besides the model, the messages and the stream options.
_OPTIONAL = frozenset({"max_completion_tokens", "max_tokens", "n", "reasoning_effort", "response_format", "tools"})


def output_type(response_format: Any) -> str | None:
    if not given(response_format):
        return None
    if isinstance(response_format, type):
        return "json"  # a pydantic model class (parse / stream helpers)
    kind = field(response_format, "type")
    if kind in ("json_object", "json_schema"):
        return "json"
    if kind == "text":
        return "text"
    return None


def set_usage(inference: Inference, usage: Any) -> None:
    inference.input_tokens = getattr(usage, "prompt_tokens", None)
    inference.output_tokens = getattr(usage, "completion_tokens", None)
    prompt = getattr(usage, "prompt_tokens_details", None)
    audio_in = audio_out = None
    if prompt is not None:
        cached, written = count(prompt, "cached_tokens"), count(prompt, "cache_write_tokens")
        if cached is not None:
            inference.cache_read_tokens = cached
        if written is not None:
            inference.cache_write_tokens = written
        audio_in = count(prompt, "audio_tokens")
    completion = getattr(usage, "completion_tokens_details", None)
    if completion is not None:
        reasoning = count(completion, "reasoning_tokens")
        if reasoning is not None:
            inference.reasoning_tokens = reasoning
        audio_out = count(completion, "audio_tokens")
    if audio_in or audio_out:  # (most calls have none: no call on their way)
        inference.add_extra_usage(input_audio_tokens=audio_in, output_audio_tokens=audio_out)


class ChatHandler(SdkHandler):
    """Turns a chat completions call into an inference; ``is_async`` selects the stream kind."""

    stream_types = (Stream, AsyncStream)

    def __init__(self, is_async: bool) -> None:
        self.is_async = is_async
        self.site = "openai.chat"

    def start(self, tel: Telemetry, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Inference:
        provider, address, port = client_info(instance)
        model = kwargs.get("model")
        stream = kwargs.get("stream") is True
        attrs: dict[str, Any] = {sc.OPENAI_API_TYPE: "chat_completions"}
        common_request_attributes(kwargs, attrs)
        optional = not _OPTIONAL.isdisjoint(kwargs)  # most calls give none of these
        n = None
        if optional:
            max_tokens = kwargs.get("max_completion_tokens")
            if not given(max_tokens):
                max_tokens = kwargs.get("max_tokens")
            if type(max_tokens) is int:  # (an odd argument is sent, not recorded)
                attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
            n = choice_count(kwargs.get("n"))
            if n is not None and n != 1:
                attrs[sc.GEN_AI_REQUEST_CHOICE_COUNT] = n
            effort = kwargs.get("reasoning_effort")
            if isinstance(effort, str):
                attrs[sc.GEN_AI_REQUEST_REASONING_LEVEL] = effort
            kind = output_type(kwargs.get("response_format"))
            if kind:
                attrs[sc.GEN_AI_OUTPUT_TYPE] = kind
        inference = Inference(tel, sc.Operation.CHAT, provider, model if isinstance(model, str) else None,
                              server_address=address, server_port=port, attributes=attrs, stream=stream)
        if optional:
            if n is not None:
                inference.choice_count = n
            tools = kwargs.get("tools")
            if readable(tools) and tools:
                inference.tool_definitions = msgs.tool_definitions(tools, tel.capture_content)
        messages = kwargs.get("messages")
        if tel.capture_content and readable(messages):
            inference.input_messages = msgs.input_messages(messages)
        if stream:
            options = kwargs.get("stream_options")
            asked = given(options) and bool(field(options, "include_usage"))
            if not asked and tel.stream_usage and raw_mode(kwargs) is None:
                # opt-in: ask for exact usage; the extra usage chunk is hidden from the app
                kwargs["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
                inference.state = HIDE_USAGE_CHUNK
            elif asked:
                inference.state = USAGE_ASKED
            else:
                tokens.preload(model if isinstance(model, str) else None)  # an estimate will be needed
                if address == OPENAI_HOST and not any(given(kwargs.get(k)) for k in _CHUNKS_NOT_TOKENS):
                    inference.state = TOKEN_A_CHUNK
            if readable(messages):
                # used only if no usage arrives: not asked for, or the stream was cut before it
                texts = msgs.message_texts(messages)
                inference.estimate = lambda: (tokens.count_messages(texts, provider, model), None)
        return inference

    def accumulator(self, inference: Inference) -> ChatStreamAccumulator:
        acc = ChatStreamAccumulator(inference, inference.state is HIDE_USAGE_CHUNK)
        if (inference.state in (HIDE_USAGE_CHUNK, USAGE_ASKED, TOKEN_A_CHUNK) and inference.choice_count == 1
                and not inference.tel.capture_content and inference.provider == sc.Provider.OPENAI):
            # Usage will arrive (or the chunks count the output tokens), and nothing is read
            # between the first chunk and the last few. (Azure's content filter may add chunks
            # after the last ones, and several choices finish at different times: those streams
            # are read whole.)
            acc.window = WINDOW
        return acc

    def record(self, inference: Inference, result: Any) -> None:
        record_completion(inference, result)


def record_completion(inference: Inference, response: Any) -> None:
    inference.response_id = getattr(response, "id", None)
    inference.response_model = getattr(response, "model", None)
    choices = items(getattr(response, "choices", None))
    inference.finish_reasons = [getattr(c, "finish_reason", None) for c in choices]
    usage = getattr(response, "usage", None)
    if usage is not None:
        set_usage(inference, usage)
    response_refinements(inference, response)
    if inference.tel.capture_content:
        out = []
        for c in choices:
            m = getattr(c, "message", None)
            parts = msgs.content_parts(getattr(m, "content", None))
            refusal = getattr(m, "refusal", None)
            if refusal:
                parts.append(text_part(refusal))
            parts += msgs.tool_calls_parts(getattr(m, "tool_calls", None))
            role = getattr(m, "role", None)
            out.append(message(role if isinstance(role, str) and role else "assistant", parts,
                               finish_reason=output_finish_reason(getattr(c, "finish_reason", None),
                                                                  msgs.OUTPUT_FINISH_REASON)))
        inference.output_messages = out


class ChatStreamAccumulator:
    """Reads a chat stream's chunks at its end. Most often that takes the first chunk (id, model,
    fingerprint) and the last two (finish reason and usage); the text and tool-call pieces are
    read from every delta only when content capture or a token estimate needs them. A long
    stream's older chunks are digested in batches first (:meth:`spill`)."""

    __slots__ = ("hide", "inference", "spilled_reasons", "spilled_usage", "texts", "tools", "window")

    def __init__(self, inference: Inference, hide_usage: bool) -> None:
        self.inference = inference
        #: with the opt-in usage request: the usage chunk we asked for is read, and hidden from the app
        self.hide = self._usage_chunk if hide_usage else None
        #: from spilled chunks: the latest finish reason per choice, the latest usage, the pieces
        self.spilled_reasons: dict[int, str] = {}
        self.spilled_usage: Any = None
        self.texts: dict[int, list[str]] = {}
        self.tools: dict[int, dict[int | None, list[Any]]] = {}
        #: > 0: only the first chunk and this many of the last are read (see ``_stream``)
        self.window = 0

    def _usage_chunk(self, chunk: Any) -> bool:
        if chunk.choices:
            return False
        usage = getattr(chunk, "usage", None)
        if usage is None:
            return False
        set_usage(self.inference, usage)
        return True

    def _first_id(self, chunks: list[Any]) -> None:
        inference = self.inference
        for chunk in chunks:  # the first with an id (Azure may open with a content-filter chunk without)
            if getattr(chunk, "id", None):
                inference.response_id = chunk.id
                inference.response_model = getattr(chunk, "model", None)
                response_refinements(inference, chunk)
                break

    def spill(self, chunks: list[Any]) -> None:
        inference = self.inference
        if inference.response_id is None:
            self._first_id(chunks)
        reasons = self.spilled_reasons
        for chunk in chunks:
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                self.spilled_usage = usage
            for choice in items(getattr(chunk, "choices", None)):
                reason, index = getattr(choice, "finish_reason", None), choice_index(getattr(choice, "index", None))
                if reason is not None and index is not None:
                    reasons[index] = reason
        if inference.tel.capture_content or inference.estimate is not None:  # either may need them
            _pieces(chunks, self.texts, self.tools)

    def finish(self, chunks: list[Any]) -> None:
        inference = self.inference
        if inference.response_id is None:
            self._first_id(chunks)
        reasons: dict[int, str] = {}
        wanted = inference.choice_count
        usage_seen = inference.input_tokens is not None  # a hidden usage chunk was read already
        for chunk in reversed(chunks):  # the usage, then the finish reasons: they arrive last
            if not usage_seen:
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    set_usage(inference, usage)  # the last one sent (some servers send a running count)
                    usage_seen = True
            for choice in items(getattr(chunk, "choices", None)):
                reason, index = getattr(choice, "finish_reason", None), choice_index(getattr(choice, "index", None))
                if reason is not None and index is not None and index not in reasons:
                    reasons[index] = reason
            if len(reasons) >= wanted:
                break  # any usage comes with or after the last finish reason
        if not usage_seen and self.spilled_usage is not None:
            set_usage(inference, self.spilled_usage)
        for index, reason in self.spilled_reasons.items():
            reasons.setdefault(index, reason)
        capture = inference.tel.capture_content
        needs_estimate = inference.estimate is not None and (
            inference.input_tokens is None or inference.output_tokens is None)
        texts, tools = _pieces(chunks, self.texts, self.tools) if (capture or needs_estimate) else ({}, {})
        indices = set(reasons) | set(texts) | set(tools)
        count = max(max(indices) + 1 if indices else 0, inference.choice_count)
        inference.finish_reasons = [reasons.get(i) for i in range(count)]
        if needs_estimate and inference.estimate is not None:
            estimate_input = inference.estimate
            provider, model = inference.provider, inference.response_model or inference.request_model
            outputs = ["".join(t) for t in texts.values()]
            outputs += [s[1] + "".join(s[2]) for calls in tools.values() for s in calls.values()]
            # With a window, the chunks between the first and the last few were not kept (no usage
            # asked, or a stream cut before it came): openai sends one token a chunk, so each counts one.
            unread = inference.chunks - len(chunks) if self.window else 0

            def estimate() -> tuple[int | None, int | None]:
                prompt, _ = estimate_input()
                return prompt, unread + sum(tokens.count_text(t, provider, model) for t in outputs)

            inference.estimate = estimate
        if capture:
            out = []
            for i in range(count):
                parts = [text_part("".join(texts[i]))] if i in texts else []
                for slot in tools.get(i, {}).values():
                    parts.append(tool_call_part(slot[0], slot[1], "".join(slot[2])))
                out.append(message("assistant", parts,
                                   finish_reason=output_finish_reason(reasons.get(i), msgs.OUTPUT_FINISH_REASON)))
            inference.output_messages = out


def _pieces(chunks: list[Any], texts: dict[int, list[str]], tools: dict[int, dict[int | None, list[Any]]],
            ) -> tuple[dict[int, list[str]], dict[int, dict[int | None, list[Any]]]]:
    """Text and tool-call pieces per choice, added to ``texts`` (``{choice: [text]}``) and ``tools``
    (``{choice: {call: [id, name, [arguments]]}}``), which are returned. A piece of an odd type
    (a choice without an int index, a text that is not a string) is left out."""
    for chunk in chunks:
        for choice in items(getattr(chunk, "choices", None)):
            index = choice_index(getattr(choice, "index", None))
            delta = getattr(choice, "delta", None)
            if delta is None or index is None:
                continue
            text = getattr(delta, "content", None)
            if text and isinstance(text, str):
                texts.setdefault(index, []).append(text)
            for call in items(getattr(delta, "tool_calls", None)):
                call_index = getattr(call, "index", None)
                slot = tools.setdefault(index, {}).setdefault(
                    call_index if type(call_index) is int else None, [None, "", []])
                call_id = getattr(call, "id", None)
                if call_id and isinstance(call_id, str):
                    slot[0] = call_id
                fn = getattr(call, "function", None)
                if fn is not None:
                    name, arguments = getattr(fn, "name", None), getattr(fn, "arguments", None)
                    if name and isinstance(name, str):
                        slot[1] = name
                    if arguments and isinstance(arguments, str):
                        slot[2].append(arguments)
    return texts, tools
