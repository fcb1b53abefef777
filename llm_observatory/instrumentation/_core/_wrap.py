"""Wrapper factories: the same guarded call path for every adapter's sync and async methods.

An adapter supplies a :class:`CallHandler` per API surface. The wrapper asks it to ``start`` an
:class:`Inference` (``None``: leave this call alone), runs the original method with the span
current, then lets the handler ``finish`` it: fill the inference from the response and end it,
or return a stream proxy that ends it later. Failures of the handler are reported once and the
original result is returned untouched; exceptions of the original propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ... import budgets
from ._guard import report
from ._inference import Inference
from ._suppression import is_suppressed
from ._telemetry import Telemetry

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


class CallHandler(Protocol):
    site: str

    def start(self, tel: Telemetry, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Inference | None:
        """Start the inference for this call, or ``None`` to leave the call untraced."""
        ...

    def finish(self, inference: Inference, result: Any) -> Any:
        """Record ``result`` and end the inference, or return a stream proxy that will."""
        ...


def _check_budgets(inference: Inference) -> None:
    """Raise ``BudgetExceeded`` (the user asked for it) before the request is sent; the span records it."""
    try:
        budgets.check_before_call(inference.provider, inference.request_model)
    except budgets.BudgetExceeded as exc:
        inference.end(exc)
        raise


def sync_wrapper(handler: CallHandler, telemetry: Callable[[], Telemetry]) -> Wrapper:
    site = handler.site

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if is_suppressed():
            return wrapped(*args, **kwargs)
        try:
            inference = handler.start(telemetry(), instance, args, kwargs)
        except Exception as exc:
            report(site + ".start", exc)
            inference = None
        if inference is None:
            return wrapped(*args, **kwargs)
        if budgets._raising:
            _check_budgets(inference)
        token = inference.activate()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            inference.deactivate(token)
            inference.end(exc)
            raise
        inference.deactivate(token)
        try:
            return handler.finish(inference, result)
        except Exception as exc:
            report(site + ".finish", exc)
            inference.end()
            return result

    return wrapper


def async_wrapper(handler: CallHandler, telemetry: Callable[[], Telemetry]) -> Wrapper:
    site = handler.site

    async def wrapper(
        wrapped: Callable[..., Awaitable[Any]], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if is_suppressed():
            return await wrapped(*args, **kwargs)
        try:
            inference = handler.start(telemetry(), instance, args, kwargs)
        except Exception as exc:
            report(site + ".start", exc)
            inference = None
        if inference is None:
            return await wrapped(*args, **kwargs)
        if budgets._raising:
            _check_budgets(inference)
        token = inference.activate()
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            inference.deactivate(token)
            inference.end(exc)
            raise
        inference.deactivate(token)
        try:
            return handler.finish(inference, result)
        except Exception as exc:
            report(site + ".finish", exc)
            inference.end()
            return result

    return wrapper
