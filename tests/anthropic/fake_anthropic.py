"""A fake Anthropic API for tests: an httpx transport handler answering in the real wire shapes.

Messages (plain and streamed as ``message_start`` / ``content_block_*`` / ``message_delta`` /
``message_stop`` events), tool use, thinking, prompt-cache usage, ``count_tokens``, and error bodies;
streamed as server-sent events (the first-party API and Vertex AI) or, for Bedrock, as AWS event
stream frames (``application/vnd.amazon.eventstream``: each event base64-encoded in a ``chunk``
frame, an error as an ``exception`` frame).
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import anthropic._base_client as _base_client

from tests._streaming import lazy_body

httpx: Any = getattr(_base_client, "httpx2", None) or _base_client.httpx


@dataclass
class FakeAnthropic:
    answer: str = "Hello! How can I help?"
    model: str = "claude-sonnet-4-20250514"
    tool_use: tuple[str, str, dict[str, Any]] | None = None  # (id, name, input)
    thinking: str | None = None
    input_tokens: int = 13
    cache_read: int = 0
    cache_write: int = 0
    #: of ``cache_write``: the writes kept for an hour (the usage's ``cache_creation`` breakdown)
    cache_write_1h: int = 0
    #: web searches run by the server tool (``server_tool_use``, also on ``message_delta``)
    web_searches: int = 0
    #: thinking tokens among the output tokens (``output_tokens_details``)
    thinking_tokens: int | None = None
    #: the usage's ``speed`` (``fast`` mode), when set
    speed: str | None = None
    #: a stream's ``speed`` on its ``message_delta`` usage (a field the SDK's model for it lacks:
    #: it arrives as an extra) rather than on ``message_start``'s
    speed_on_delta: bool = False
    fail_status: int | None = None
    cut_after_events: int | None = None
    #: after this many events, an error where the next event would be: the API's ``error`` event
    #: (an ``overloaded_error``), or a Bedrock ``exception`` frame (a ``throttlingException``)
    error_after_events: int | None = None
    #: the wire a stream comes over: ``None`` (the first-party API), ``"vertex"`` or ``"bedrock"``
    cloud: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def words(self) -> list[str]:
        words = self.answer.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    def transport(self) -> Any:
        return httpx.MockTransport(self.handle)

    def handle(self, request: Any) -> Any:
        body = json.loads(request.content) if request.content else {}
        self.requests.append({"path": request.url.path, "body": body, "headers": dict(request.headers)})
        if self.fail_status is not None:
            kinds = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                     429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}
            return httpx.Response(self.fail_status, json={"type": "error", "error": {
                "type": kinds.get(self.fail_status, "api_error"), "message": f"error {self.fail_status}"}})
        if request.url.path.endswith("/count_tokens"):
            return httpx.Response(200, json={"input_tokens": self.input_tokens})
        # (Bedrock and Vertex take ``stream`` out of the body and into the path)
        if body.get("stream") or request.url.path.endswith(("/invoke-with-response-stream", ":streamRawPredict")):
            return self._sse(self._events())
        return httpx.Response(200, json=self._message(), headers={"request-id": "req_011"})

    def _usage(self, output: int) -> dict[str, Any]:
        usage = {"input_tokens": self.input_tokens, "cache_creation_input_tokens": self.cache_write,
                 "cache_read_input_tokens": self.cache_read, "output_tokens": output, "service_tier": "standard"}
        if self.cache_write:  # the API breaks the writes down by lifetime
            usage["cache_creation"] = {"ephemeral_5m_input_tokens": self.cache_write - self.cache_write_1h,
                                       "ephemeral_1h_input_tokens": self.cache_write_1h}
        if self.speed is not None and not self.speed_on_delta:
            usage["speed"] = self.speed
        usage.update(self._details())
        return usage

    def _details(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.web_searches:
            details["server_tool_use"] = {"web_search_requests": self.web_searches, "web_fetch_requests": 0}
        if self.thinking_tokens is not None:
            details["output_tokens_details"] = {"thinking_tokens": self.thinking_tokens}
        return details

    def _content(self) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if self.thinking:
            blocks.append({"type": "thinking", "thinking": self.thinking, "signature": "sig"})
        if self.tool_use:
            blocks.append({"type": "tool_use", "id": self.tool_use[0], "name": self.tool_use[1],
                           "input": self.tool_use[2]})
        else:
            blocks.append({"type": "text", "text": self.answer})
        return blocks

    def _message(self) -> dict[str, Any]:
        return {"id": "msg_014hJgXY5GTiK7vmiVS5B48p", "type": "message", "role": "assistant", "model": self.model,
                "content": self._content(), "stop_reason": "tool_use" if self.tool_use else "end_turn",
                "stop_sequence": None, "usage": self._usage(len(self.words))}

    def _events(self) -> list[dict[str, Any]]:
        start = {**self._message(), "content": [], "stop_reason": None, "usage": self._usage(2)}
        events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
        index = 0
        if self.thinking:
            events += [{"type": "content_block_start", "index": index,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
                       {"type": "content_block_delta", "index": index,
                        "delta": {"type": "thinking_delta", "thinking": self.thinking}},
                       {"type": "content_block_stop", "index": index}]
            index += 1
        if self.tool_use:
            call_id, name, args = self.tool_use
            text = json.dumps(args)
            events += [{"type": "content_block_start", "index": index,
                        "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}}},
                       {"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": text[: len(text) // 2]}},
                       {"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": text[len(text) // 2:]}},
                       {"type": "content_block_stop", "index": index}]
        else:
            events.append({"type": "content_block_start", "index": index,
                           "content_block": {"type": "text", "text": ""}})
            events.append({"type": "ping"})
            events += [{"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": w}}
                       for w in self.words]
            events.append({"type": "content_block_stop", "index": index})
        events.append({"type": "message_delta",
                       "delta": {"stop_reason": "tool_use" if self.tool_use else "end_turn", "stop_sequence": None},
                       "usage": {"output_tokens": len(self.words), **self._details(),
                                 **({"speed": self.speed} if self.speed_on_delta else {})}})
        events.append({"type": "message_stop"})
        return events

    def _sse(self, events: list[dict[str, Any]]) -> Any:
        return self.stream_of([(event["type"], event) for event in events])

    def stream_of(self, events: list[tuple[str, Any]]) -> Any:
        """A streamed response of ``(name, event)`` pairs over this fake's wire, cut or failed
        after ``cut_after_events`` or ``error_after_events``."""
        cut, error_after = self.cut_after_events, self.error_after_events
        bedrock = self.cloud == "bedrock"
        encode = _bedrock_frame if bedrock else _sse_event

        if bedrock:  # (Bedrock sends no pings)
            events = [(name, event) for name, event in events if name != "ping"]

        def chunks() -> Any:
            for i, (name, event) in enumerate(events):
                if cut is not None and i >= cut:
                    raise httpx.ReadError("connection reset by peer")
                if error_after is not None and i >= error_after:
                    yield _bedrock_exception(*THROTTLED) if bedrock else _sse_event("error", OVERLOADED)
                    return
                yield encode(name, event)

        content_type = "application/vnd.amazon.eventstream" if bedrock else "text/event-stream"
        return httpx.Response(200, headers={"content-type": content_type}, stream=lazy_body(httpx, chunks()))


#: The error events of a stream that fails mid-way: the API's, and Bedrock's (type, message).
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
THROTTLED = ("throttlingException", "Too many tokens, please wait before trying again.")


def _sse_event(name: str, event: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(event)}\n\n".encode()


def _aws_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event stream message: its prelude (total and headers' lengths, their CRC32), its
    headers (string values), its payload, and the CRC32 of all of it."""
    encoded = b"".join(struct.pack("!B", len(k)) + k + b"\x07" + struct.pack("!H", len(v)) + v
                       for k, v in ((k.encode(), v.encode()) for k, v in headers.items()))
    prelude = struct.pack("!II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack("!I", binascii.crc32(prelude)) + encoded + payload
    return message + struct.pack("!I", binascii.crc32(message))


def _bedrock_frame(name: str, event: Any) -> bytes:
    """A Bedrock ``chunk`` event carrying one Messages API event, base64-encoded JSON."""
    data = base64.b64encode(json.dumps(event).encode()).decode()
    return _aws_frame({":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"},
                      json.dumps({"bytes": data}).encode())


def _bedrock_exception(kind: str, message: str) -> bytes:
    return _aws_frame({":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
                      json.dumps({"message": message}).encode())

