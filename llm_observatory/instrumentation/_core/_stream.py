"""The stream proxy: the SDK's own stream object, seen through, that ends its span exactly once.

The proxy is a :class:`wrapt.BaseObjectProxy`, so ``isinstance(proxy, openai.Stream)`` stays true
and every attribute of the stream is the stream's own. It ends the inference when the stream is
exhausted, on ``close()``/``aclose()``, on ``with`` exit, on an error while reading, and, last, when
it is garbage collected. The span is never current while the user's code runs between chunks.

Per-chunk cost matters (a stream can have thousands of chunks): every attribute read on a wrapt
proxy goes through its attribute hook, so all per-stream state sits on one plain ``__slots__``
object, read once per chunk.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from time import perf_counter_ns
from types import TracebackType
from typing import Any, Protocol

import wrapt

from ._guard import report
from ._inference import Inference


class ChunkHandler(Protocol):
    """Adapter-specific accumulation of a stream's chunks into the inference.

    ``chunk()`` returns ``True`` to hide the chunk from the user (a chunk that only exists because
    the instrumentation asked for it, such as an injected usage chunk); anything else shows it.
    """

    def chunk(self, chunk: Any) -> bool | None: ...

    def finish(self) -> None: ...


class _State:
    __slots__ = ("exhausted", "handler", "inference", "iterator")

    def __init__(self, inference: Inference, handler: ChunkHandler) -> None:
        self.inference = inference
        self.handler = handler
        self.iterator: Any = None
        self.exhausted = False

    def accept(self, chunk: Any) -> bool:
        """Account for one chunk; ``True`` if the user must not see it."""
        inference = self.inference
        now = perf_counter_ns()
        if not inference.chunks:
            inference.first_ns = now
        inference.last_ns = now
        inference.chunks += 1
        try:
            return self.handler.chunk(chunk) is True
        except Exception as exc:
            report("stream.chunk", exc)
            return False

    def end(self, error: BaseException | None, cut: bool) -> None:
        inference = self.inference
        if inference.done:
            return
        try:
            self.handler.finish()
        except Exception as exc:
            report("stream.finish", exc)
        inference.end(error, cut=cut)


class _Base(wrapt.BaseObjectProxy):  # type: ignore[misc,type-arg]
    def __init__(self, wrapped: Any, inference: Inference, handler: ChunkHandler) -> None:
        super().__init__(wrapped)
        self._self_s = _State(inference, handler)

    def _self_finish(self, error: BaseException | None = None) -> None:
        """End the span now (for helpers that close the HTTP response behind the stream's back)."""
        s = self._self_s
        s.end(error, cut=not s.exhausted)

    def __del__(self) -> None:
        try:
            s = self._self_s
            if not s.inference.done:
                s.end(None, cut=not s.exhausted)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class SyncStreamProxy(_Base):
    """Proxy for a synchronous stream (iterator, context manager, ``close()``)."""

    def __iter__(self) -> SyncStreamProxy:
        return self

    def __next__(self) -> Any:
        s = self._self_s
        it = s.iterator
        if it is None:
            wrapped = self.__wrapped__
            it = s.iterator = wrapped if hasattr(type(wrapped), "__next__") else iter(wrapped)
        while True:
            try:
                chunk = next(it)
            except StopIteration:
                s.exhausted = True
                s.end(None, cut=False)
                raise
            except BaseException as exc:
                s.end(exc, cut=True)
                raise
            if not s.accept(chunk):
                return chunk

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_finish()

    def __enter__(self) -> Any:
        entered = self.__wrapped__.__enter__()
        return self if entered is self.__wrapped__ else entered

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_finish(exc)


class AsyncStreamProxy(_Base):
    """Proxy for an asynchronous stream (async iterator, async context manager, ``close()``)."""

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        s = self._self_s
        it = s.iterator
        if it is None:
            wrapped = self.__wrapped__
            it = s.iterator = wrapped if hasattr(type(wrapped), "__anext__") else wrapped.__aiter__()
        while True:
            try:
                chunk = await it.__anext__()
            except StopAsyncIteration:
                s.exhausted = True
                s.end(None, cut=False)
                raise
            except BaseException as exc:
                s.end(exc, cut=True)
                raise
            if not s.accept(chunk):
                return chunk

    def _self_closing(self, result: Any) -> Any:
        if inspect.isawaitable(result):
            return self._self_await_then_end(result)
        self._self_finish()
        return result

    async def _self_await_then_end(self, awaitable: Awaitable[Any]) -> Any:
        try:
            return await awaitable
        finally:
            self._self_finish()

    def close(self) -> Any:
        return self._self_closing(self.__wrapped__.close())

    def aclose(self) -> Any:
        return self._self_closing(self.__wrapped__.aclose())

    async def __aenter__(self) -> Any:
        entered = await self.__wrapped__.__aenter__()
        return self if entered is self.__wrapped__ else entered

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_finish(exc)
