"""A fake OpenAI API for tests: an httpx transport handler answering in the real wire shapes.

Bodies follow recorded exchanges of the public API (chat completions with and without
streaming, tool calls, several choices, ``stream_options.include_usage``, the Responses API and its
events, embeddings, legacy completions, error bodies). Every request is kept in ``requests``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import openai._base_client as _base_client

from tests._streaming import lazy_body

# openai 3.x is built on httpx2, older releases on httpx: use the one the installed SDK uses.
httpx: Any = getattr(_base_client, "httpx2", None) or _base_client.httpx

CREATED = 1731368639


def _small(value: Any, default: int, most: int) -> int:
    """A size a request asks for (``n``, ``dimensions``), within what the fake answers with."""
    return value if type(value) is int and 1 <= value <= most else default


def _usage(prompt: int, completion: int, cached: int = 0, reasoning: int = 0,
           audio: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": audio[0]},
            "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": audio[1],
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


#: Azure's content filter results where nothing was filtered
AZURE_SAFE = {category: {"filtered": False, "severity": "safe"}
              for category in ("hate", "self_harm", "sexual", "violence")}


@dataclass
class FakeOpenAI:
    """Configure, then pass ``transport`` to a client. ``fail_status`` answers every request with it."""

    answer: str = "This is a test."
    model: str = "gpt-4o-mini-2024-07-18"
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, arguments JSON)
    fail_status: int | None = None
    fail_times: int | None = None  # fail only the first N requests
    cut_after_chunks: int | None = None  # a transport error after N SSE events
    prompt_tokens: int = 12
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    audio_tokens: tuple[int, int] = (0, 0)  # of the prompt and of the completion tokens
    web_searches: int = 0  # web_search_call items before a Responses answer
    file_searches: int = 0  # file_search_call items before a Responses answer
    #: chat answers as Azure's (its default, synchronous content filter): the prompt's filter
    #: results (a chunk of their own, first, with no id nor model, when streamed) and each choice's
    azure: bool = False
    #: a Responses answer that failed, ``(code, message)``: status ``failed``, its error, no output
    #: (streamed: ``response.failed`` in place of ``response.completed``)
    response_failure: tuple[str, str] | None = None
    #: a Responses answer cut short for this reason (``max_output_tokens``, ``content_filter``): status ``incomplete``
    incomplete_reason: str | None = None
    #: a Responses stream that sends an ``error`` event after this many events, then ends
    error_event_after: int | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def words(self) -> list[str]:
        words = self.answer.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    def transport(self) -> Any:
        return httpx.MockTransport(self.handle)

    def async_transport(self) -> Any:
        return httpx.MockTransport(self.handle)

    # --- dispatch ------------------------------------------------------------------------------
    def handle(self, request: Any) -> Any:
        body = json.loads(request.content) if request.content else {}
        self.requests.append({"method": request.method, "path": request.url.path, "body": body,
                              "headers": dict(request.headers)})
        if self.fail_status is not None and (self.fail_times is None or len(self.requests) <= self.fail_times):
            return self._error(self.fail_status)
        path = request.url.path
        if path.endswith("/chat/completions"):
            return self._sse(self._chat_chunks(body)) if body.get("stream") else self._json(self._chat(body))
        if path.endswith("/responses") and request.method == "POST":
            done = "failed" if self.response_failure else "incomplete" if self.incomplete_reason else "completed"
            return self._sse(self._response_events(body, done), named=True) if body.get("stream") else \
                self._json(self._response(body, done))
        if "/responses/" in path and request.method == "GET":
            if request.url.params.get("stream") == "true":  # a resumed stream: the events again
                return self._sse(self._response_events({"model": "gpt-4o-mini"}), named=True)
            return self._json(self._response({"model": "gpt-4o-mini"}, "completed", path.rsplit("/", 1)[-1]))
        if path.endswith("/embeddings"):
            return self._json(self._embeddings(body))
        if path.endswith("/completions"):
            return self._sse(self._completion_chunks(body)) if body.get("stream") else \
                self._json(self._completion(body))
        return self._error(404)

    @staticmethod
    def _tier(body: dict[str, Any]) -> str:
        """The tier that serves a request, as the API names it in the response: the one asked for
        (``fast`` is answered as ``priority``), ``default`` for none or ``auto``."""
        asked = body.get("service_tier")
        return "default" if asked in (None, "auto") else "priority" if asked == "fast" else asked

    def _json(self, payload: dict[str, Any]) -> Any:
        return httpx.Response(200, json=payload, headers={"x-request-id": f"req_{len(self.requests)}"})

    def _error(self, status: int) -> Any:
        codes = {400: "invalid_request_error", 401: "invalid_api_key", 404: "model_not_found",
                 429: "rate_limit_exceeded", 500: "server_error"}
        message = {404: "The model `gpt-nope` does not exist or you do not have access to it."}.get(
            status, f"Error {status}")
        return httpx.Response(status, json={"error": {"message": message, "type": codes.get(status, "error"),
                                                      "param": None, "code": codes.get(status)}})

    def _sse(self, events: list[dict[str, Any]], named: bool = False) -> Any:
        cut = self.cut_after_chunks

        def stream() -> Any:
            for i, event in enumerate(events):
                if cut is not None and i >= cut:
                    raise httpx.ReadError("connection reset by peer")
                prefix = f"event: {event['type']}\n" if named else ""
                yield f"{prefix}data: {json.dumps(event)}\n\n".encode()
            if not named:
                yield b"data: [DONE]\n\n"

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=lazy_body(httpx, stream()))

    # --- chat ----------------------------------------------------------------------------------
    def _message(self) -> dict[str, Any]:
        if self.tool_calls:
            return {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in self.tool_calls]}
        return {"role": "assistant", "content": self.answer, "refusal": None}

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        n = _small(body.get("n"), 1, 8)
        reason = "tool_calls" if self.tool_calls else "stop"
        answer = {"id": "chatcmpl-ASYMZ4oSykiIFK4lXLReDiKyAjsQl", "object": "chat.completion", "created": CREATED,
                  "model": self.model, "system_fingerprint": "fp_0ba0d124f1", "service_tier": self._tier(body),
                  "choices": [{"index": i, "message": self._message(), "logprobs": None, "finish_reason": reason,
                               **self._filtered()} for i in range(n)],
                  "usage": _usage(self.prompt_tokens, len(self.words) * n, self.cached_tokens, self.reasoning_tokens,
                                  self.audio_tokens)}
        if self.azure:
            answer["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": AZURE_SAFE}]
        return answer

    def _filtered(self) -> dict[str, Any]:
        """A choice's content filter results, on Azure."""
        return {"content_filter_results": AZURE_SAFE} if self.azure else {}

    def _chat_chunks(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        n = _small(body.get("n"), 1, 8)

        def chunk(choices: list[dict[str, Any]], usage: Any = None) -> dict[str, Any]:
            return {"id": "chatcmpl-ASYMZ4oSykiIFK4lXLReDiKyAjsQl", "object": "chat.completion.chunk",
                    "created": CREATED, "model": self.model, "system_fingerprint": "fp_0ba0d124f1",
                    "service_tier": self._tier(body), "choices": choices, "usage": usage}

        chunks = [chunk([{"index": i, "delta": {"role": "assistant", "content": "", "refusal": None},
                          "logprobs": None, "finish_reason": None} for i in range(n)])]
        if self.tool_calls:
            for k, (call_id, name, args) in enumerate(self.tool_calls):
                chunks.append(chunk([{"index": 0, "delta": {"tool_calls": [
                    {"index": k, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}]},
                    "logprobs": None, "finish_reason": None}]))
                half = len(args) // 2
                for piece in (args[:half], args[half:]):
                    chunks.append(chunk([{"index": 0, "delta": {"tool_calls": [
                        {"index": k, "function": {"arguments": piece}}]}, "logprobs": None, "finish_reason": None}]))
            chunks.append(chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}]))
        else:
            for word in self.words:
                for i in range(n):
                    chunks.append(chunk([{"index": i, "delta": {"content": word}, "logprobs": None,
                                          "finish_reason": None}]))
            for i in range(n):
                chunks.append(chunk([{"index": i, "delta": {}, "logprobs": None, "finish_reason": "stop"}]))
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            chunks.append(chunk([], _usage(self.prompt_tokens, len(self.words) * n, self.cached_tokens,
                                           self.reasoning_tokens, self.audio_tokens)))
        if self.azure:
            for c in chunks:
                for choice in c["choices"]:
                    choice.update(self._filtered())
            chunks.insert(0, {"id": "", "object": "", "created": 0, "model": "", "choices": [],
                              "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": AZURE_SAFE}]})
        return chunks

    # --- responses -------------------------------------------------------------------------------
    def _response(self, body: dict[str, Any], status: str, response_id: str = "resp_0415a3de5d30") -> dict[str, Any]:
        output: list[dict[str, Any]] = []
        if status not in ("in_progress", "failed"):
            if self.tool_calls:
                output = [{"type": "function_call", "id": f"fc_{i}", "call_id": i, "name": n, "arguments": a,
                           "status": "completed"} for i, n, a in self.tool_calls]
            else:
                output = [{"type": "web_search_call", "id": f"ws_{i}", "status": "completed",
                           "action": {"type": "search", "query": "weather"}} for i in range(self.web_searches)]
                output += [{"type": "file_search_call", "id": f"fs_{i}", "status": "completed",
                            "queries": ["weather"], "results": None} for i in range(self.file_searches)]
                output.append({"type": "message", "id": "msg_0415", "status": "completed", "role": "assistant",
                               "content": [{"type": "output_text", "text": self.answer, "annotations": []}]})
        usage = None if status in ("in_progress", "failed") else {
            "input_tokens": self.prompt_tokens, "output_tokens": len(self.words),
            "total_tokens": self.prompt_tokens + len(self.words),
            "input_tokens_details": {"cached_tokens": self.cached_tokens},
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens}}
        failure = self.response_failure if status == "failed" else None
        error = {"code": failure[0], "message": failure[1]} if failure else None
        return {"id": response_id, "object": "response", "created_at": CREATED, "status": status,
                "error": error,
                "incomplete_details": {"reason": self.incomplete_reason} if status == "incomplete" else None, "instructions": body.get("instructions"),
                "max_output_tokens": body.get("max_output_tokens"), "model": self.model, "output": output,
                "parallel_tool_calls": True, "previous_response_id": body.get("previous_response_id"),
                "reasoning": {"effort": None, "summary": None}, "service_tier": self._tier(body), "store": True,
                "temperature": body.get("temperature", 1.0), "text": {"format": {"type": "text"}},
                "tool_choice": "auto", "tools": [], "top_p": 1.0, "truncation": "disabled", "usage": usage,
                "metadata": {}}

    def _response_events(self, body: dict[str, Any], done: str = "completed") -> list[dict[str, Any]]:
        item = {"id": "msg_0415", "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": self._response(body, "in_progress")},
            {"type": "response.in_progress", "response": self._response(body, "in_progress")},
            {"type": "response.output_item.added", "item": item, "output_index": 0},
            {"type": "response.content_part.added", "content_index": 0, "item_id": "msg_0415", "output_index": 0,
             "part": part},
        ]
        for word in self.words:
            events.append({"type": "response.output_text.delta", "item_id": "msg_0415", "output_index": 0,
                           "content_index": 0, "delta": word, "logprobs": []})
        done_part = {**part, "text": self.answer}
        events += [
            {"type": "response.output_text.done", "item_id": "msg_0415", "output_index": 0, "content_index": 0,
             "text": self.answer, "logprobs": []},
            {"type": "response.content_part.done", "item_id": "msg_0415", "output_index": 0, "content_index": 0,
             "part": done_part},
            {"type": "response.output_item.done", "output_index": 0,
             "item": {**item, "status": "completed", "content": [done_part]}},
            {"type": f"response.{done}", "response": self._response(body, done)},
        ]
        if self.error_event_after is not None:
            events = [*events[: self.error_event_after], {"type": "error", "code": "server_error",
                                                          "message": "The server had an error.", "param": None}]
        for i, event in enumerate(events):
            event["sequence_number"] = i
        return events

    # --- embeddings and completions ----------------------------------------------------------------
    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body.get("input") if isinstance(body.get("input"), list) else [body.get("input")]
        dims = _small(body.get("dimensions"), 8, 64)
        import base64
        import struct
        vector = [0.125 * (k + 1) for k in range(dims)]
        encoded: Any = vector
        if body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        return {"object": "list", "model": "text-embedding-3-small",
                "data": [{"object": "embedding", "index": i, "embedding": encoded} for i in range(len(inputs))],
                "usage": {"prompt_tokens": 4 * len(inputs), "total_tokens": 4 * len(inputs)}}

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"id": "cmpl-1", "object": "text_completion", "created": CREATED, "model": "gpt-3.5-turbo-instruct",
                "choices": [{"text": self.answer, "index": 0, "logprobs": None, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": len(self.words), "total_tokens": 5 + len(self.words)}}

    def _completion_chunks(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        out = [{"id": "cmpl-1", "object": "text_completion", "created": CREATED, "model": "gpt-3.5-turbo-instruct",
                "choices": [{"text": w, "index": 0, "logprobs": None, "finish_reason": None}]} for w in self.words]
        out[-1]["choices"][0]["finish_reason"] = "stop"
        return out

