"""Traced streams: the SDK's own stream object, tapped or seen through, that ends its span exactly once.

Two ways, chosen per stream by :func:`trace_stream`:

* **Tap** (the SDK streams of openai and anthropic): the stream object is returned as it is; only
  its private item generator (``_iterator``, which both ``__next__`` and ``__iter__`` read) is
  replaced by a generator that notes each chunk on its way through, and its ``close`` by one
  that also ends the span. ``type(stream)`` stays the SDK's class.
* **Proxy** (anything else): a :class:`wrapt.BaseObjectProxy` (wrapt 1: ``ObjectProxy``), so
  ``isinstance(proxy, Stream)`` stays true and every attribute is the stream's own.

On its way through, a chunk is only timed and kept (a reference in a list or a ring, ~20
bytecodes in a sync stream, ~25 in an async one). The adapter's handler reads the kept chunks
once, when the stream ends, and most often needs only the first and the last few. A long stream
is read in batches: every :data:`SPILL_AT` chunks, the handler digests the older ones
(:meth:`ChunkHandler.spill`) and they are let go, so a stream holds at most that many chunks
(~4 KB each as openai's objects). A handler that needs only the first chunk and the last few
says so with a ``window`` (how many of the last): the others are then let go as soon as the
user has them, a ring buffer in C doing the forgetting (keeping fifty of openai's chunk objects
alive costs more than the rest of the tap).

Either way the inference ends when the stream is exhausted, on ``close()``/``aclose()``, on
``with`` exit, on an error while reading, when the stream is garbage collected (as of then, by
the background thread: see :func:`~._metrics.later`), and, last, when
telemetry shuts down (at exit, or ``observatory.shutdown()``): a stream still open then is ended
as one cut short, while its span can still be exported (during the interpreter's teardown,
after that, nothing can be, and no work is done). The span is never current while the user's
code runs between chunks. The kept chunks are released when the span ends.
"""

from __future__ import annotations

import inspect
import os
import sys
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from itertools import filterfalse, islice
from time import perf_counter_ns
from types import AsyncGeneratorType, GeneratorType, TracebackType
from typing import Any, Protocol

import wrapt

from ._guard import report
from ._inference import ONCE, Inference, clock
from ._metrics import later

#: wrapt 2's proxy without its own iterator protocol (ours is defined below); wrapt 1's ``ObjectProxy``
#: is that class (opentelemetry-instrumentation 0.61b0 and older hold wrapt below 2).
_ObjectProxy: Any = getattr(wrapt, "BaseObjectProxy", None) or wrapt.ObjectProxy

#: Chunks a stream keeps before the handler digests the older ones (bounds a stream's memory; at least 2).
SPILL_AT = 256

_NONE = object()

#: The states of the streams whose span is still open, by ``id``: ended by :func:`end_open_streams`.
#: (A forked child starts with none: the parent's streams are the parent's to end.)
_open: dict[int, _State] = {}
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_open.clear)


class ChunkHandler(Protocol):
    """Adapter-specific reading of a stream's chunks into the inference, once, at the end.

    ``hide``, when not ``None``, sees every chunk first: it returns ``True`` for a chunk the user
    must not see (one that only exists because the instrumentation asked for it, such as an
    injected usage chunk), and takes what it needs from that chunk itself. ``finish`` gets the
    chunks the user saw, in order; in a long stream, ``spill`` got the ones before them first,
    in order, in batches (never the last chunk seen). Reading the chunks in batches must give the
    inference exactly what reading them at once does.

    An optional ``window`` attribute (an int, 0 if absent) of ``k > 0`` asks for the first
    chunk and the last ``k`` only: ``finish`` then gets those (``inference.chunks`` says how many
    there were), and ``spill`` is never called.
    """

    @property
    def hide(self) -> Callable[[Any], bool] | None: ...

    def spill(self, chunks: list[Any]) -> None: ...

    def finish(self, chunks: list[Any]) -> None: ...


class _State:
    __slots__ = ("_once", "exhausted", "handler", "inference", "iterator", "kept", "ring", "stamps")

    def __init__(self, inference: Inference, handler: ChunkHandler) -> None:
        self.inference = inference
        self.handler = handler
        self.iterator: Any = None
        self.exhausted = False
        #: the chunks the user saw, not yet spilled
        self.kept: list[Any] = []
        #: the time each chunk the user saw passed (``perf_counter_ns()``; ~40 bytes a chunk: ints
        #: in a list, as an ``array`` of them, a fifth the size, took ~1,000 more instructions a chunk);
        #: one a chunk, so also their count, the spilled and the forgotten ones included
        self.stamps = inference.stamps = []
        #: with a handler's ``window``: the last chunks after the first (``kept`` holds the first)
        window = getattr(handler, "window", 0)
        self.ring: deque[Any] | None = deque(maxlen=window) if window else None
        _open[id(self)] = self  # (ended at exit: an inference, made first, registered that)
        self._once = iter(ONCE)  # (see Inference.end: the tap's end and the shutdown's may race)

    def accept(self, chunk: Any) -> bool:
        """Note one chunk (the proxies' way; the tap does the same inline); ``True`` to hide it."""
        if self.handler.hide is not None and _hidden(self, chunk):
            return True
        self.stamps.append(perf_counter_ns())
        kept = self.kept
        if kept and self.ring is not None:
            self.ring.append(chunk)
            return False
        kept.append(chunk)
        if len(kept) >= SPILL_AT:
            self.spill()
        return False

    def spill(self) -> None:
        """Let the handler digest every kept chunk but the last (which keeps ``kept`` non-empty,
        the tap's test for a first chunk), and let them go."""
        kept = self.kept
        older = kept[:-1]
        del kept[:-1]
        if not self.inference.done:
            try:
                self.handler.spill(older)
            except Exception as exc:
                report("stream.spill", exc)

    def end(self, error: BaseException | None, cut: bool, at: tuple[int, int] | None = None,
            unfinished: bool = False) -> bool:
        """Digest the chunks and end the inference, once; whether this call did."""
        if not next(self._once, False):
            return False
        _open.pop(id(self), None)
        inference = self.inference
        kept, ring = self.kept, self.ring
        chunks = kept[:]
        kept.clear()  # released with the span's end (a suspended tap still holds this list)
        if ring is not None:
            chunks += ring
            ring.clear()
        if inference.done or sys.is_finalizing():
            # (in the interpreter's teardown the exporters are gone, and the threads our end
            # could wait for, such as a tokenizer's loader, are stopped: it could only hang)
            return False
        inference.chunks = len(self.stamps)
        try:
            self.handler.finish(chunks)
        except Exception as exc:
            report("stream.finish", exc)
        return inference.end(error, cut=cut, at=at, unfinished=unfinished)

    def stop(self, error: BaseException | None = None, at: tuple[int, int] | None = None,
             unfinished: bool = False) -> bool:
        """End now, from outside the iteration: a cut unless the stream was exhausted."""
        return self.end(error, cut=not self.exhausted, at=at, unfinished=unfinished)

    def stop_later(self) -> None:
        """:meth:`stop` as of now, by the background thread: for a finalizer (a stream dropped)."""
        if not self.inference.done:
            later(self.stop, None, clock())


class _Base(_ObjectProxy):  # type: ignore[misc]
    def __init__(self, wrapped: Any, inference: Inference, handler: ChunkHandler) -> None:
        super().__init__(wrapped)
        self._self_s = _State(inference, handler)

    def _self_finish(self, error: BaseException | None = None) -> None:
        """End the span now (for helpers that close the HTTP response behind the stream's back)."""
        self._self_s.stop(error)

    def __del__(self) -> None:
        try:
            self._self_s.stop_later()
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


# --- the tap ---------------------------------------------------------------------------------

def _hidden(s: _State, chunk: Any) -> bool:
    """The handler's ``hide`` for one chunk; a failure in it shows the chunk."""
    try:
        return s.handler.hide(chunk) is True  # type: ignore[misc]
    except Exception as exc:
        report("stream.chunk", exc)
        return False


def _tap(inner: Iterator[Any], s: _State) -> Iterator[Any]:
    """The stream's item generator: each chunk is timed and kept on its way to the user (a
    long stream's older chunks are spilled to the handler).

    Per chunk, only a time and an append: the first chunk is taken apart (the first time), and
    the rest come in batches of ``SPILL_AT - 1`` (counted by ``islice``, in C), after each of
    which the older chunks are spilled (an empty batch ends it); with a window, they go into
    the ring (the chunks are counted by their times)."""
    clock, stamp, keep, kept = perf_counter_ns, s.stamps.append, s.kept.append, s.kept
    batch = SPILL_AT - 1
    source = filterfalse(partial(_hidden, s), inner) if s.handler.hide is not None else inner
    try:
        for chunk in source:
            stamp(clock())
            keep(chunk)
            yield chunk
            break
        ring = s.ring
        if ring is not None:  # only the first and the last few are wanted: the ring forgets the rest
            remember = ring.append
            for chunk in source:
                stamp(clock())
                remember(chunk)
                yield chunk
        else:
            while True:
                chunk = _NONE
                for chunk in islice(source, batch):
                    stamp(clock())
                    keep(chunk)
                    yield chunk
                if chunk is _NONE:  # an empty batch: the source is exhausted
                    break
                if len(kept) >= SPILL_AT:
                    s.spill()
    except GeneratorExit:  # collected before the end (the stream was dropped)
        s.stop_later()
        raise
    except BaseException as exc:
        s.end(exc, cut=True)
        raise
    s.exhausted = True
    s.end(None, cut=False)


async def _atap(inner: AsyncIterator[Any], s: _State) -> AsyncIterator[Any]:
    """The async stream's item generator: :func:`_tap`'s three loops (the first chunk, then the
    ring or the batches), with the hidden chunks skipped in each and the batches counted by length."""
    clock, stamp, hide = perf_counter_ns, s.stamps.append, s.handler.hide is not None
    kept = s.kept
    try:
        async for chunk in inner:
            if hide and _hidden(s, chunk):
                continue
            stamp(clock())
            kept.append(chunk)
            yield chunk
            break
        ring = s.ring
        if ring is not None:  # only the first and the last few are wanted: the ring forgets the rest
            remember = ring.append
            async for chunk in inner:
                if hide and _hidden(s, chunk):
                    continue
                stamp(clock())
                remember(chunk)
                yield chunk
        else:
            keep, spill_at = kept.append, SPILL_AT
            async for chunk in inner:
                if hide and _hidden(s, chunk):
                    continue
                stamp(clock())
                keep(chunk)
                if len(kept) >= spill_at:
                    s.spill()
                yield chunk
    except GeneratorExit:  # closed before the end, by the event loop or the garbage collector
        s.stop_later()
        raise
    except BaseException as exc:
        s.end(exc, cut=True)
        raise
    s.exhausted = True
    s.end(None, cut=False)


_EXITS = ("__exit__", "__aexit__")


def exiting_error(frames: int = 3) -> BaseException | None:
    """The exception leaving a ``with`` block, when the caller of this runs (within ``frames``
    calls) in the ``__exit__`` or ``__aexit__`` that was handed it: the stream's own, or that of a
    stream helper's manager, which closes the stream (directly, or by closing its helper). The
    nearest such exit decides: one handed no exception (a block left cleanly, inside another
    exit's handling of an error) gives ``None``, and so does a close from anywhere else while an
    exception is handled (an ``except`` block): that exception is not the stream's. Nor is a
    ``GeneratorExit``: a generator of the application's (or a framework's) that read the stream
    in a ``with`` was closed, which cuts the stream short rather than fail it."""
    error = sys.exc_info()[1]
    if error is None or type(error) is GeneratorExit:  # (a generator reading the stream was closed: a cut)
        return None
    frame = sys._getframe(1).f_back
    for _ in range(frames):
        if frame is None:
            break
        if frame.f_code.co_name in _EXITS:
            held = any(value is error or (type(value) is tuple and error in value)  # (``__exit__(self, *exc_info)``)
                       for value in frame.f_locals.values())
            return error if held else None
        frame = frame.f_back
    return None


class _Closer:
    """Put on a tapped stream as its ``close``: the SDK's own ``close``, then the span's end.

    Held only by the stream, so ``__del__`` runs when the stream is collected: a stream dropped
    unread (whose generator never started, so never sees ``GeneratorExit``) still ends its span.
    The stream is reached through a weak reference: a strong one would keep it alive.
    """

    __slots__ = ("close_of", "state", "stream")

    def __init__(self, stream: Any, close_of: Callable[[Any], Any], state: _State) -> None:
        self.stream = weakref.ref(stream)
        self.close_of = close_of
        self.state = state

    def close(self) -> Any:
        stream = self.stream()
        error = exiting_error()
        try:
            return None if stream is None else self.close_of(stream)
        finally:
            self.state.stop(error)

    def __del__(self) -> None:
        try:
            self.state.stop_later()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class _AsyncCloser(_Closer):
    __slots__ = ()

    async def close(self) -> Any:  # type: ignore[override]
        stream = self.stream()
        error = exiting_error()
        try:
            return None if stream is None else await self.close_of(stream)
        finally:
            self.state.stop(error)


def trace_stream(stream: Any, inference: Inference, handler: ChunkHandler, is_async: bool) -> Any:
    """What the user gets for ``stream``: the stream itself, tapped, or a proxy where it can't be."""
    inner: Any = None
    try:
        d = vars(stream)
        inner = getattr(stream, "_iterator", None)  # anthropic makes it on first use
        close_of = getattr(type(stream), "close", None)
    except Exception:
        d = close_of = None
    if d is not None and close_of is not None and "close" not in d \
            and type(inner) is (AsyncGeneratorType if is_async else GeneratorType):
        state = _State(inference, handler)
        stream._iterator = _atap(inner, state) if is_async else _tap(inner, state)  # type: ignore[arg-type]
        stream.close = (_AsyncCloser if is_async else _Closer)(stream, close_of, state).close
        return stream
    return (AsyncStreamProxy if is_async else SyncStreamProxy)(stream, inference, handler)


def end_open_streams() -> int:
    """End every traced stream still open, as cut short (telemetry is shutting down); how many."""
    ended = 0
    for state in list(_open.values()):
        try:
            if state.stop(unfinished=True):
                ended += 1
        except Exception as exc:
            report("stream.shutdown", exc)
    return ended


def helper_closers(site: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """wrapt wrappers for the ``close`` of a stream helper that closes the HTTP response itself,
    around its raw stream (``_raw_stream``: openai's helpers, anthropic 0.x's), sync and async:
    after the helper's own close, the raw stream's span ends, with the exception leaving the
    helper's ``with`` block (its manager's exit closes it). A failure of ours is reported at ``site``."""

    def end(helper: Any, error: BaseException | None) -> None:
        try:
            raw = getattr(helper, "_raw_stream", None)
            if raw is not None:
                end_stream(raw, error)
        except Exception as exc:
            report(site, exc)

    def close(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        error = exiting_error()
        try:
            return wrapped(*args, **kwargs)
        finally:
            end(instance, error)

    async def aclose(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        error = exiting_error()
        try:
            return await wrapped(*args, **kwargs)
        finally:
            end(instance, error)

    return close, aclose


def end_stream(stream: Any, error: BaseException | None = None) -> None:
    """End a traced stream's span now (for helpers that close the HTTP response behind its back)."""
    if isinstance(stream, _Base):
        stream._self_finish(error)
        return
    close = vars(stream).get("close") if hasattr(stream, "__dict__") else None
    closer = getattr(close, "__self__", None)
    if isinstance(closer, _Closer):
        closer.state.stop(error)
