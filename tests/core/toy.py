"""A tiny provider SDK and its adapter, to exercise the instrumentation core on its own.

The SDK mimics the shapes that matter: a client method returning a response object or a stream
class (iterator, context manager, close()), sync and async, and errors raised mid-stream.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from llm_observatory.instrumentation._core._base import ObservatoryInstrumentor
from llm_observatory.instrumentation._core._inference import Inference
from llm_observatory.instrumentation._core._messages import message, text_part
from llm_observatory.instrumentation._core._stream import AsyncStreamProxy, SyncStreamProxy
from llm_observatory.instrumentation._core._telemetry import Telemetry
from llm_observatory.instrumentation._core._wrap import async_wrapper, sync_wrapper


class ToyError(Exception):
    pass


@dataclass
class Chunk:
    text: str
    finish_reason: str | None = None
    usage: tuple[int, int] | None = None


@dataclass
class Response:
    id: str
    model: str
    text: str
    finish_reason: str
    usage: tuple[int, int]
    extra: dict[str, Any] = field(default_factory=dict)


class Stream:
    """The SDK's own stream type."""

    def __init__(self, chunks: list[Chunk], fail_after: int | None = None) -> None:
        self._chunks = chunks
        self._i = 0
        self._fail_after = fail_after
        self.closed = False

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> Chunk:
        if self.closed or self._i >= len(self._chunks):
            raise StopIteration
        if self._fail_after is not None and self._i >= self._fail_after:
            raise ToyError("connection reset mid-stream")
        chunk = self._chunks[self._i]
        self._i += 1
        return chunk

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncStream:
    def __init__(self, chunks: list[Chunk], fail_after: int | None = None) -> None:
        self._sync = Stream(chunks, fail_after)

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> Chunk:
        await asyncio.sleep(0)
        try:
            return next(self._sync)
        except StopIteration:
            raise StopAsyncIteration from None

    async def close(self) -> None:
        self._sync.close()

    @property
    def closed(self) -> bool:
        return self._sync.closed

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def chunks_for(text: str, usage: bool = True) -> list[Chunk]:
    words = text.split(" ")
    out = [Chunk(w) for w in words]
    out[-1].finish_reason = "stop"
    if usage:
        out.append(Chunk("", None, (7, len(words))))
    return out


class Client:
    #: Requests "sent" by every client so far.
    requests_sent = 0

    def __init__(self, fail: Exception | None = None, fail_after: int | None = None,
                 hold: threading.Event | None = None, usage: tuple[Any, Any] = (7, 2)) -> None:
        self.fail = fail
        self.fail_after = fail_after
        #: the (input, output) token counts a response reports, as sent (an odd server's included)
        self.usage = usage
        #: when given, ``create`` (sync) waits for it before answering: a call still in flight
        self.hold = hold

    def create(self, *, model: str, prompt: str, stream: bool = False, temperature: float | None = None) -> Any:
        Client.requests_sent += 1
        if self.hold is not None:
            self.hold.wait(30)
        if self.fail is not None:
            raise self.fail
        answer = f"echo {prompt}"
        if stream:
            return Stream(chunks_for(answer), self.fail_after)
        return Response("r-1", model + "-2024", answer, "stop", self.usage)


class AsyncClient(Client):
    async def create(self, *, model: str, prompt: str, stream: bool = False,  # type: ignore[override]
                     temperature: float | None = None) -> Any:
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        answer = f"echo {prompt}"
        if stream:
            return AsyncStream(chunks_for(answer), self.fail_after)
        return Response("r-1", model + "-2024", answer, "stop", (7, 2))


class _Accumulator:
    hide = None

    def __init__(self, inference: Inference) -> None:
        self.inference = inference
        self.reason: str | None = None
        self.texts: list[str] = []

    def spill(self, chunks: list[Chunk]) -> None:
        inf = self.inference
        for chunk in chunks:
            if chunk.finish_reason:
                self.reason = chunk.finish_reason
            if chunk.usage:
                inf.input_tokens, inf.output_tokens = chunk.usage
            if chunk.text:
                self.texts.append(chunk.text)

    def finish(self, chunks: list[Chunk]) -> None:
        self.spill(chunks)
        inf = self.inference
        inf.finish_reasons = [self.reason]
        if inf.tel.capture_content:
            inf.output_messages = [message("assistant", [text_part(" ".join(self.texts))],
                                           finish_reason=self.reason or "error")]


class _Handler:
    site = "toy.create"

    def __init__(self, is_async: bool) -> None:
        self.is_async = is_async

    def start(self, tel: Telemetry, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Inference:
        attrs = {}
        if kwargs.get("temperature") is not None:
            attrs["gen_ai.request.temperature"] = kwargs["temperature"]
        inf = Inference(tel, "chat", "toy", kwargs.get("model"), server_address="toy.local", server_port=8443,
                        attributes=attrs, stream=bool(kwargs.get("stream")))
        if tel.capture_content:
            inf.input_messages = [message("user", [text_part(kwargs.get("prompt", ""))])]
        return inf

    def finish(self, inference: Inference, result: Any) -> Any:
        if isinstance(result, (Stream, AsyncStream)):
            proxy = AsyncStreamProxy if self.is_async else SyncStreamProxy
            return proxy(result, inference, _Accumulator(inference))
        inference.response_model = result.model
        inference.response_id = result.id
        inference.finish_reasons = [result.finish_reason]
        inference.input_tokens, inference.output_tokens = result.usage
        if inference.tel.capture_content:
            inference.output_messages = [message("assistant", [text_part(result.text)],
                                                 finish_reason=result.finish_reason)]
        inference.end()
        return result


class ToyInstrumentor(ObservatoryInstrumentor):
    def _patch_all(self) -> None:
        self.wrap(Client, "create", sync_wrapper(_Handler(False), self.telemetry))
        self.wrap(AsyncClient, "create", async_wrapper(_Handler(True), self.telemetry))
