"""Decorators that trace the user's own functions: ``@workflow``, ``@task``, ``@agent``, ``@tool``, ``@observe``.

They work bare (``@tool``) or with arguments (``@tool(name="search")``), on functions, methods,
async functions, generators and async generators. A generator's span covers its whole life: it
ends on exhaustion, ``close()``, an exception, or garbage collection, and it is current only
while the generator's own code runs, never after it yields.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, SpanKind

from . import semconv as sc
from .instrumentation._core import _telemetry
from .instrumentation._core._attributes import start_span
from .instrumentation._core._guard import report
from .instrumentation._core._inference import error_type, mark_error
from .instrumentation._core._messages import dump_json, to_jsonable

F = TypeVar("F", bound=Callable[..., Any])

_INTERNAL = SpanKind.INTERNAL


class _Spec:
    """What a decorated function's span looks like; built once at decoration time."""

    __slots__ = (
        "attributes",
        "capture_input",
        "capture_output",
        "kind",
        "metric",
        "name",
        "signature",
        "span_name",
    )

    def __init__(self, func: Callable[..., Any], name: str | None, kind: str,
                 capture_input: bool | None, capture_output: bool | None) -> None:
        qualname = str(getattr(func, "__qualname__", None) or getattr(func, "__name__", "function"))
        self.name = name or qualname.rsplit("<locals>.", 1)[-1]
        self.kind = kind
        attrs: dict[str, Any] = {sc.LLM_SPAN_KIND: kind}
        if kind == "workflow":
            self.span_name = f"{sc.Operation.INVOKE_WORKFLOW} {self.name}"
            attrs[sc.GEN_AI_OPERATION_NAME] = sc.Operation.INVOKE_WORKFLOW
            attrs[sc.GEN_AI_WORKFLOW_NAME] = self.name
        elif kind == "agent":
            self.span_name = f"{sc.Operation.INVOKE_AGENT} {self.name}"
            attrs[sc.GEN_AI_OPERATION_NAME] = sc.Operation.INVOKE_AGENT
            attrs[sc.GEN_AI_AGENT_NAME] = self.name
        elif kind == "tool":
            self.span_name = f"{sc.Operation.EXECUTE_TOOL} {self.name}"
            attrs[sc.GEN_AI_OPERATION_NAME] = sc.Operation.EXECUTE_TOOL
            attrs[sc.GEN_AI_TOOL_NAME] = self.name
            attrs[sc.GEN_AI_TOOL_TYPE] = "function"
        else:
            self.span_name = self.name
        self.attributes = attrs
        self.capture_input = capture_input
        self.capture_output = capture_output
        try:
            self.signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):
            self.signature = None
        self.metric = kind if kind in ("workflow", "agent", "tool") else None


class _Call:
    """One execution of a decorated function: its span, timing and captured values."""

    __slots__ = ("done", "span", "spec", "t0", "tel")

    def __init__(self, spec: _Spec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.spec = spec
        self.done = False
        tel = self.tel = _telemetry.current()
        self.span: Span = start_span(tel.tracer, spec.span_name, None, _INTERNAL, spec.attributes)
        self.t0 = time.perf_counter()
        if self._capture(spec.capture_input) and self.span.is_recording():
            try:
                captured = dump_json(self._redacted(self._inputs(args, kwargs)), tel.max_content_length)
                self.span.set_attribute(self._input_key(), captured)
            except Exception as exc:
                report("decorator.input", exc)

    def _capture(self, flag: bool | None) -> bool:
        return self.tel.capture_content if flag is None else flag

    def _redacted(self, value: Any) -> Any:
        redactor = self.tel.redactor
        return value if redactor is None else redactor.value(value)[0]

    def _input_key(self) -> str:
        return sc.GEN_AI_TOOL_CALL_ARGUMENTS if self.spec.kind == "tool" else sc.LLM_INPUT

    def _inputs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        sig = self.spec.signature
        if sig is None:
            return to_jsonable({"args": args, "kwargs": kwargs})
        bound = sig.bind_partial(*args, **kwargs)
        values = dict(bound.arguments)
        values.pop("self", None)
        values.pop("cls", None)
        return to_jsonable(values)

    def end(self, error: BaseException | None = None, output: Any = None, has_output: bool = False) -> None:
        if self.done:
            return
        self.done = True
        end_time = time.time_ns()
        span = self.span
        try:
            if error is not None:
                mark_error(span, error)
            elif has_output and self._capture(self.spec.capture_output) and span.is_recording():
                key = sc.GEN_AI_TOOL_CALL_RESULT if self.spec.kind == "tool" else sc.LLM_OUTPUT
                span.set_attribute(key, dump_json(self._redacted(to_jsonable(output)), self.tel.max_content_length))
            if self.spec.metric is not None:
                self._record_metric(error)
        except Exception as exc:
            report("decorator.end", exc)
        finally:
            span.end(end_time)

    def _record_metric(self, error: BaseException | None) -> None:
        spec, metrics = self.spec, self.tel.metrics
        duration = time.perf_counter() - self.t0
        operation = {"tool": sc.Operation.EXECUTE_TOOL, "agent": sc.Operation.INVOKE_AGENT}.get(
            str(spec.metric), sc.Operation.INVOKE_WORKFLOW)
        metrics.record_duration(operation, spec.name, duration, None if error is None else error_type(error))

    def activate(self) -> object:
        return otel_context.attach(otel_trace.set_span_in_context(self.span))


def _start(spec: _Spec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call | None:
    try:
        return _Call(spec, args, kwargs)
    except Exception as exc:
        report("decorator.start", exc)
        return None


def _decorate(func: F, spec: _Spec) -> F:
    if inspect.isasyncgenfunction(func):
        return _wrap_async_generator(func, spec)  # type: ignore[return-value]
    if inspect.isgeneratorfunction(func):
        return _wrap_generator(func, spec)  # type: ignore[return-value]
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = _start(spec, args, kwargs)
            if call is None:
                return await func(*args, **kwargs)
            token = call.activate()
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                otel_context.detach(token)  # type: ignore[arg-type]
                call.end(exc)
                raise
            otel_context.detach(token)  # type: ignore[arg-type]
            call.end(None, result, True)
            return result

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = _start(spec, args, kwargs)
        if call is None:
            return func(*args, **kwargs)
        token = call.activate()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)  # type: ignore[arg-type]
            call.end(exc)
            raise
        otel_context.detach(token)  # type: ignore[arg-type]
        call.end(None, result, True)
        return result

    return wrapper  # type: ignore[return-value]


def _wrap_generator(func: Callable[..., Generator[Any, Any, Any]], spec: _Spec) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        call = _start(spec, args, kwargs)
        gen = func(*args, **kwargs)
        if call is None:
            return (yield from gen)
        sent: Any = None
        thrown: BaseException | None = None
        try:
            while True:
                token = call.activate()
                try:
                    if thrown is not None:
                        exc, thrown = thrown, None
                        item = gen.throw(exc)
                    else:
                        item = gen.send(sent)
                except StopIteration as stop:
                    call.end(None, stop.value, True)
                    return stop.value
                finally:
                    otel_context.detach(token)  # type: ignore[arg-type]
                try:
                    sent = yield item
                except GeneratorExit:
                    gen.close()
                    call.end()
                    raise
                except BaseException as exc:
                    thrown = exc
        except BaseException as exc:
            call.end(exc)
            raise

    return wrapper


def _wrap_async_generator(func: Callable[..., AsyncGenerator[Any, Any]], spec: _Spec) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        call = _start(spec, args, kwargs)
        agen = func(*args, **kwargs)
        sent: Any = None
        thrown: BaseException | None = None
        try:
            while True:
                token = call.activate() if call is not None else None
                try:
                    if thrown is not None:
                        exc, thrown = thrown, None
                        item = await agen.athrow(exc)
                    else:
                        item = await agen.asend(sent)
                except StopAsyncIteration:
                    if call is not None:
                        call.end()
                    return
                finally:
                    if token is not None:
                        otel_context.detach(token)  # type: ignore[arg-type]
                try:
                    sent = yield item
                except GeneratorExit:
                    await agen.aclose()
                    if call is not None:
                        call.end()
                    raise
                except BaseException as exc:
                    thrown = exc
        except BaseException as exc:
            if call is not None:
                call.end(exc)
            raise

    return wrapper


@overload
def observe(func: F, /) -> F: ...
@overload
def observe(
    func: None = None, /, *, name: str | None = None, kind: str = "task",
    capture_input: bool | None = None, capture_output: bool | None = None,
) -> Callable[[F], F]: ...
def observe(
    func: F | None = None, /, *, name: str | None = None, kind: str = "task",
    capture_input: bool | None = None, capture_output: bool | None = None,
) -> F | Callable[[F], F]:
    """Trace a function. ``kind`` is ``workflow``, ``agent``, ``tool``, ``task`` or any label.

    ``capture_input``/``capture_output`` override the global content-capture setting for this
    function (``None``: follow ``init(capture_content=...)``).
    """

    def decorate(f: F) -> F:
        return _decorate(f, _Spec(f, name, kind, capture_input, capture_output))

    return decorate(func) if func is not None else decorate


def _kind_decorator(kind: str, doc: str) -> Any:
    @overload
    def decorator(func: F, /) -> F: ...
    @overload
    def decorator(func: None = None, /, *, name: str | None = None, capture_input: bool | None = None,
                  capture_output: bool | None = None) -> Callable[[F], F]: ...
    def decorator(func: F | None = None, /, *, name: str | None = None, capture_input: bool | None = None,
                  capture_output: bool | None = None) -> F | Callable[[F], F]:
        def decorate(f: F) -> F:
            return _decorate(f, _Spec(f, name, kind, capture_input, capture_output))

        return decorate(func) if func is not None else decorate

    decorator.__name__ = decorator.__qualname__ = kind
    decorator.__doc__ = doc
    return decorator


workflow = _kind_decorator("workflow", "Trace a workflow: span ``invoke_workflow {name}``.")
task = _kind_decorator("task", "Trace a step of a workflow: span ``{name}``.")
agent = _kind_decorator("agent", "Trace an agent: span ``invoke_agent {name}``.")
tool = _kind_decorator("tool", "Trace a tool: span ``execute_tool {name}``.")
