"""Anthropic instrumentation: messages (create, parse, stream), beta messages, count_tokens.

The anthropic SDK 2.x traces its own calls when a tracer provider exists. For the calls we
trace, the client has no tracer while the call runs (the SDK's own path for a client without
tracing, which skips its span and all the work for it) and ours is the one inference span,
with our cost, metrics, content handling and redaction, whether the application left native
tracing on, turned it off, or configured it. The trace context still goes out on the request
whenever the SDK would have sent its own, where the SDK puts it (after ``_prepare_request``, which
may sign the headers). Calls we do not trace (files, batches, models, ...)
keep their native spans.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate

from .._core._base import ObservatoryInstrumentor
from .._core._guard import report
from .._core._stream import helper_closers
from .._core._suppression import ACTIVE_KEY
from .._core._wrap import async_wrapper, sync_wrapper

if TYPE_CHECKING:
    from ._handlers import MessagesHandler

_RESOURCES = (
    ("anthropic.resources.messages", "Messages", False, False),
    ("anthropic.resources.messages", "AsyncMessages", True, False),
    ("anthropic.resources.beta.messages", "Messages", False, True),
    ("anthropic.resources.beta.messages", "AsyncMessages", True, True),
)


def _class(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def _no_native_span_inside_ours(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if otel_context.get_value(ACTIVE_KEY):
        return None  # the SDK then runs the call without its own span (and without its own overhead)
    return wrapped(*args, **kwargs)


def _no_tracer_inside_ours(tracer_of: Callable[[Any], Any], doc: str | None) -> property:
    """The client's ``_tracer`` property (``tracer_of`` its getter), answering ``None`` inside a call of ours."""

    def _tracer(client: Any) -> Any:
        if otel_context.get_value(ACTIVE_KEY):
            return None  # the SDK then runs the call as a client without tracing does
        return tracer_of(client)

    return property(_tracer, doc=doc)


#: Client class → the class whose ``_prepare_request`` it runs.
_preparers: dict[type, type] = {}


def _preparer(cls: type) -> type:
    """The class whose ``_prepare_request`` the client class ``cls`` runs."""
    owner = _preparers.get(cls)
    if owner is None:
        owner = _preparers[cls] = next((c for c in cls.__mro__ if "_prepare_request" in vars(c)), object)
    return owner


def _trace_headers(instance: Any, tracer_of: Callable[[Any], Any]) -> dict[str, str] | None:
    """Our span's trace context as headers, when the SDK would have sent its own span's."""
    options = getattr(instance, "_open_telemetry", None)
    if not (isinstance(options, dict) and options.get("propagation", True) and tracer_of(instance) is not None):
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def _propagate_like_the_sdk(owner: type, tracer_of: Callable[[Any], Any], is_async: bool) -> Any:
    """Wrap ``owner._prepare_request`` (which may sign the request's headers) to do what the SDK
    does with its own span's trace context around it: take any trace headers off, then put ours on
    after, so no signature covers them (``tracer_of``: the client's own tracer, read past our
    ``_tracer``). Only the class a client runs ``_prepare_request`` from does it: a subclass
    defined after instrumenting that overrides it sends no trace context rather than sign it."""

    def before(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, str]] | None:
        try:
            if not otel_context.get_value(ACTIVE_KEY) or _preparer(type(instance)) is not owner:
                return None
            headers = _trace_headers(instance, tracer_of)
            if not headers:
                return None
            request = args[0] if args else kwargs["request"]
            for key in headers:
                if key in request.headers:
                    del request.headers[key]
            return request, headers
        except Exception as exc:
            report("anthropic.propagation", exc)
            return None

    def after(pending: tuple[Any, dict[str, str]]) -> None:
        try:
            headers = pending[0].headers
            for key, value in pending[1].items():
                headers[key] = value
        except Exception as exc:
            report("anthropic.propagation", exc)

    if is_async:
        async def async_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            pending = before(instance, args, kwargs)
            result = await wrapped(*args, **kwargs)
            if pending is not None:
                after(pending)
            return result

        return async_wrapper

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        pending = before(instance, args, kwargs)
        result = wrapped(*args, **kwargs)
        if pending is not None:
            after(pending)
        return result

    return wrapper


def _request_preparers(base_client: Any) -> Iterator[tuple[type, bool]]:
    """The client classes that define ``_prepare_request`` (the SDK's Bedrock, Vertex, ... clients
    sign or authenticate requests there), and whether theirs is async."""
    seen: set[type] = set()
    todo = [cls for cls in (getattr(base_client, "SyncAPIClient", None), getattr(base_client, "AsyncAPIClient", None))
            if isinstance(cls, type)]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        method = vars(cls).get("_prepare_request")
        if method is not None:
            yield cls, inspect.iscoroutinefunction(method)


def _adopt(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    wrapped(*args, **kwargs)
    try:
        from ._handlers import adopt_handover

        adopt_handover(instance)
    except Exception as exc:
        report("anthropic.stream_helper.adopt", exc)


#: anthropic 0.x's helpers close the HTTP response behind the inner stream's back: their
#: ``close`` ends the span too, with the exception leaving the helper's ``with`` block.
_helper_close, _helper_aclose = helper_closers("anthropic.stream_helper.close")


class AnthropicInstrumentor(ObservatoryInstrumentor):
    instruments = ("anthropic >= 0.40.0",)

    def _patch_all(self) -> None:
        # the handlers' module imports anthropic: importing this package alone must not (an
        # application may import it before anthropic, after ``init()`` set up the import hook)
        from ._handlers import LEGACY_HELPERS, CountTokensHandler, MessagesHandler

        for module, cls_name, is_async, beta in _RESOURCES:
            cls = _class(module, cls_name)
            if cls is None:
                continue
            make = async_wrapper if is_async else sync_wrapper
            messages = MessagesHandler(is_async, beta)
            for method in ("create", "parse"):
                self.wrap(cls, method, make(messages, self.telemetry))
            self.wrap(cls, "count_tokens", make(CountTokensHandler(is_async), self.telemetry))
            self.wrap(cls, "stream", self._stream_wrapper(messages))
        if LEGACY_HELPERS:
            for cls_name, is_async in (("MessageStream", False), ("AsyncMessageStream", True)):
                helper = _class("anthropic.lib.streaming._messages", cls_name)
                if helper is not None:
                    self.wrap(helper, "__init__", _adopt)
                    self.wrap(helper, "close", _helper_aclose if is_async else _helper_close)
        base_client = _class("anthropic", "_base_client")
        if base_client is not None and hasattr(base_client, "start_api_call_span"):  # 2.x: native tracing
            self.wrap(base_client, "start_api_call_span", _no_native_span_inside_ours)
            native = vars(base_client.BaseClient).get("_tracer")
            tracer_of: Callable[[Any], Any] = lambda client: getattr(client, "_tracer", None)  # noqa: E731
            if isinstance(native, property) and native.fget is not None:
                tracer_of = native.fget
                self.replace(base_client.BaseClient, "_tracer", _no_tracer_inside_ours(tracer_of, native.__doc__))
            _preparers.clear()
            for owner, is_async in _request_preparers(base_client):
                self.wrap(owner, "_prepare_request", _propagate_like_the_sdk(owner, tracer_of, is_async))

    def _stream_wrapper(self, handler: MessagesHandler) -> Any:
        from ._handlers import traced_stream_request

        telemetry = self.telemetry

        def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            manager = wrapped(*args, **kwargs)
            try:
                traced_stream_request(handler, telemetry, manager, instance, dict(kwargs))
            except Exception as exc:
                report("anthropic.stream_helper", exc)
            return manager

        return wrapper


__all__ = ["AnthropicInstrumentor"]
