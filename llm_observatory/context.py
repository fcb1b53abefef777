"""Session, user, conversation, tags and metadata that stamp every span started inside them.

Each helper is a context manager and a decorator::

    with observatory.session("s-42"), observatory.user("u-7"):
        answer(question)

    @observatory.tags("checkout", "beta")
    async def handler(): ...

The values live in the OpenTelemetry context, so they follow ``asyncio`` tasks by themselves;
:func:`install_thread_propagation` carries them (and the current span) into threads and
``concurrent.futures`` executors. With ``init(baggage=True)`` the ids also go into W3C baggage,
so they reach other services through the usual propagators.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.thread
import functools
import inspect
import logging
import threading
from collections.abc import Callable, Mapping
from contextvars import Token
from types import MappingProxyType, TracebackType
from typing import Any, TypeVar, cast

from opentelemetry import baggage as otel_baggage
from opentelemetry import context as otel_context

from . import semconv

logger = logging.getLogger("llm_observatory")

F = TypeVar("F", bound=Callable[..., Any])

SESSION_KEY = otel_context.create_key("llm_observatory.session.id")
USER_KEY = otel_context.create_key("llm_observatory.user.id")
CONVERSATION_KEY = otel_context.create_key("llm_observatory.conversation.id")
TAGS_KEY = otel_context.create_key("llm_observatory.tags")
METADATA_KEY = otel_context.create_key("llm_observatory.metadata")

MAX_ID_LENGTH = 256
MAX_TAG_LENGTH = 128
MAX_TAGS = 64
MAX_METADATA_KEYS = 64
MAX_METADATA_VALUE_LENGTH = 4096

#: Baggage keys used with ``init(baggage=True)``.
_BAGGAGE_KEYS = {
    SESSION_KEY: semconv.SESSION_ID,
    USER_KEY: semconv.USER_ID,
    CONVERSATION_KEY: semconv.GEN_AI_CONVERSATION_ID,
}
_use_baggage = False
#: Whether any helper has put a value in a context yet: until then no span needs a lookup.
_in_use = False


def set_baggage_enabled(enabled: bool) -> None:
    """Turn W3C baggage propagation of the ids on or off (``init(baggage=...)``)."""
    global _use_baggage
    _use_baggage = enabled


class _Scope:
    """A set of context values, usable as a context manager and as a decorator."""

    __slots__ = ("_tokens", "_values")

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values
        self._tokens: list[Token[otel_context.Context]] = []

    def _context(self) -> otel_context.Context:
        global _in_use
        ctx = otel_context.get_current()
        if self._values:
            _in_use = True
        for key, value in self._values.items():
            if key == TAGS_KEY:
                previous = cast(tuple[str, ...], otel_context.get_value(TAGS_KEY, ctx) or ())
                value = tuple(dict.fromkeys((*previous, *value)))
            elif key == METADATA_KEY:
                merged = dict(cast(Mapping[str, Any], otel_context.get_value(METADATA_KEY, ctx) or {}))
                merged.update(value)
                value = MappingProxyType(merged)
            ctx = otel_context.set_value(key, value, ctx)
            if _use_baggage and key in _BAGGAGE_KEYS:
                ctx = otel_baggage.set_baggage(_BAGGAGE_KEYS[key], value, ctx)
        return ctx

    def __enter__(self) -> None:
        self._tokens.append(otel_context.attach(self._context()))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        otel_context.detach(self._tokens.pop())

    def __call__(self, func: F) -> F:
        values = self._values
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with _Scope(values):
                    return await func(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _Scope(values):
                return func(*args, **kwargs)

        return cast(F, wrapper)


def _valid_id(kind: str, value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        logger.warning("LLM Observatory: %s id must be a string, got %s; ignored", kind, type(value).__name__)
        return None
    text = str(value)
    if not text or len(text) > MAX_ID_LENGTH:
        logger.warning(
            "LLM Observatory: %s id must have 1 to %d characters, got %d; ignored", kind, MAX_ID_LENGTH, len(text)
        )
        return None
    return text


def session(session_id: str) -> _Scope:
    """Stamp ``session.id`` on every span started inside."""
    value = _valid_id("session", session_id)
    return _Scope({} if value is None else {SESSION_KEY: value})


def user(user_id: str) -> _Scope:
    """Stamp ``user.id`` on every span started inside."""
    value = _valid_id("user", user_id)
    return _Scope({} if value is None else {USER_KEY: value})


def conversation(conversation_id: str) -> _Scope:
    """Stamp ``gen_ai.conversation.id`` on every span started inside."""
    value = _valid_id("conversation", conversation_id)
    return _Scope({} if value is None else {CONVERSATION_KEY: value})


def tags(*values: str) -> _Scope:
    """Add tags (``llm.tags``, a string array) to every span started inside; nested tags add up."""
    kept: list[str] = []
    for tag in values:
        if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_LENGTH:
            logger.warning("LLM Observatory: a tag must be a string of 1 to %d characters; %r ignored",
                           MAX_TAG_LENGTH, tag if not isinstance(tag, str) else tag[:40])
            continue
        kept.append(tag)
    if len(kept) > MAX_TAGS:
        logger.warning("LLM Observatory: at most %d tags are kept; %d ignored", MAX_TAGS, len(kept) - MAX_TAGS)
        kept = kept[:MAX_TAGS]
    return _Scope({TAGS_KEY: tuple(kept)} if kept else {})


def metadata(**values: Any) -> _Scope:
    """Add ``llm.metadata.<key>`` attributes to every span started inside; nested metadata merges."""
    kept: dict[str, str | bool | int | float] = {}
    for key, value in values.items():
        short_str = isinstance(value, str) and len(value) <= MAX_METADATA_VALUE_LENGTH
        if isinstance(value, (bool, int, float)) or short_str:
            kept[key] = value
        else:
            logger.warning(
                "LLM Observatory: metadata %r must be a str (at most %d characters), bool, int or float; ignored",
                key, MAX_METADATA_VALUE_LENGTH,
            )
    if len(kept) > MAX_METADATA_KEYS:
        logger.warning("LLM Observatory: at most %d metadata keys are kept", MAX_METADATA_KEYS)
        kept = dict(list(kept.items())[:MAX_METADATA_KEYS])
    return _Scope({METADATA_KEY: MappingProxyType(kept)} if kept else {})


def attributes_from(ctx: otel_context.Context) -> dict[str, Any]:
    """The span attributes that the helpers put in ``ctx`` (empty when none)."""
    attrs: dict[str, Any] = {}
    if not _in_use and not _use_baggage:
        return attrs
    for key, attr in ((SESSION_KEY, semconv.SESSION_ID), (USER_KEY, semconv.USER_ID),
                      (CONVERSATION_KEY, semconv.GEN_AI_CONVERSATION_ID)):
        value = otel_context.get_value(key, ctx)
        if value is None and _use_baggage:
            value = otel_baggage.get_baggage(attr, ctx)
        if value is not None:
            attrs[attr] = value
    found_tags = otel_context.get_value(TAGS_KEY, ctx)
    if found_tags:
        attrs[semconv.LLM_TAGS] = found_tags
    found_meta = cast(Mapping[str, Any] | None, otel_context.get_value(METADATA_KEY, ctx))
    if found_meta:
        for key, value in found_meta.items():
            attrs[semconv.LLM_METADATA_PREFIX + key] = value
    return attrs


# --- threads and executors -----------------------------------------------------------------------
# Only the OpenTelemetry context is carried over (the current span and our values), never the
# application's own context variables: carrying those would change what the program does.

_original_submit: Callable[..., Any] | None = None
_original_thread_start: Callable[..., Any] | None = None
_lock = threading.Lock()
_pool_worker = getattr(concurrent.futures.thread, "_worker", None)


def _run_in(ctx: otel_context.Context, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        token = otel_context.attach(ctx)
        try:
            return fn(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return run


def install_thread_propagation() -> None:
    """Carry the OpenTelemetry context into new threads and executor tasks (idempotent)."""
    global _original_submit, _original_thread_start
    with _lock:
        if _original_submit is not None:
            return
        submit = concurrent.futures.ThreadPoolExecutor.submit
        start = threading.Thread.start

        def patched_submit(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            try:
                fn = _run_in(otel_context.get_current(), fn)
            except Exception:  # never in the way of the application's task
                pass
            return submit(self, fn, *args, **kwargs)

        @functools.wraps(start)
        def patched_start(self: threading.Thread) -> None:
            # An executor's worker thread outlives the task that started it; tasks get their
            # context through submit() instead.
            if getattr(self, "_target", None) is not _pool_worker:
                # The instance attribute wins over the class's run(), so subclasses are covered.
                try:
                    self.run = _run_in(otel_context.get_current(), self.run)  # type: ignore[method-assign]
                except Exception:  # an unusual Thread subclass: it starts without our context
                    pass
            start(self)

        _original_submit, _original_thread_start = submit, start
        concurrent.futures.ThreadPoolExecutor.submit = patched_submit  # type: ignore[method-assign]
        threading.Thread.start = patched_start  # type: ignore[method-assign]


def uninstall_thread_propagation() -> None:
    """Restore the original ``ThreadPoolExecutor.submit`` and ``Thread.start``."""
    global _original_submit, _original_thread_start
    with _lock:
        if _original_submit is None or _original_thread_start is None:
            return
        concurrent.futures.ThreadPoolExecutor.submit = _original_submit  # type: ignore[method-assign]
        threading.Thread.start = _original_thread_start  # type: ignore[method-assign]
        _original_submit = _original_thread_start = None
