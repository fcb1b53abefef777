"""What framework adapters (LangChain, LlamaIndex) share: a unit of work with its span, the
context it makes current, and how it ends.

A framework tells us when its runs start and end through callbacks, not by calling a function we
wrap, so the span context cannot be entered and left in one ``with`` block. :class:`ContextStack`
enters a unit's context when it starts and leaves it when it ends, always in reverse order of
entry: a unit that ends before the one entered after it (a multi-prompt ``generate``, a stream
outliving its query) waits for that one to be left first. Nothing of ours stays current after the
framework's work is done.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry.trace import Span

from ... import semconv as sc
from . import _shutdown
from ._guard import report
from ._inference import ONCE, Inference, error_type, mark_error
from ._messages import dump_json, to_jsonable
from ._telemetry import Telemetry

if TYPE_CHECKING:
    from opentelemetry.context import Context

try:  # leave a context without OpenTelemetry's error log when it was entered elsewhere
    from opentelemetry.context import _RUNTIME_CONTEXT as _runtime_context

    _runtime: Any = _runtime_context
except ImportError:  # pragma: no cover
    _runtime = None

#: Units tracked at once, at most, per adapter; beyond it the oldest are dropped (a leak guard).
MAX_UNITS = 10_000

#: The units with a span still open, by ``id``, oldest first (weakly: a unit the framework dropped
#: unended must not be kept alive): ended by :func:`end_open_units` when telemetry shuts down. A
#: forked child starts with none.
_open: dict[int, weakref.ref[Unit]] = {}
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_open.clear)


def end_open_units() -> int:
    """End every unit whose span is still open (telemetry is shutting down), the latest started
    first, so children end before their parents; each marked ``llm.unfinished``. How many. (A
    model call's unit ends with its inference: see ``end_unfinished``, which runs first.)"""
    ended = 0
    for ref in reversed(list(_open.values())):
        unit = ref()
        if unit is None or unit.ended:
            continue
        try:
            if end_unit(unit, None, unfinished=True) and unit.inference is None and unit.span is not None:
                ended += 1
        except Exception as exc:
            report("framework.shutdown", exc)
    _open.clear()
    return ended


class Unit:
    """One framework unit of work: its span (``None`` for a hidden one), and its children's context."""

    __slots__ = ("__weakref__", "_once", "attached", "ctx", "ended", "has_call_id", "inference", "kind", "metric",
                 "name", "released", "span", "t0", "tel", "token")

    def __init__(self, tel: Telemetry, span: Span | None, ctx: Context, kind: str, name: str) -> None:
        self.tel = tel
        self.span = span
        self.ctx = ctx
        self.kind = kind
        self.name = name
        #: Set when the unit is a model call (its span is the inference's).
        self.inference: Inference | None = None
        #: ``execute_tool``, ``invoke_agent`` or ``invoke_workflow``: the duration metric to record.
        self.metric: str | None = None
        self.has_call_id = False
        self.token: object = None
        self.attached = False
        self.released = False
        self.ended = False
        self._once = iter(ONCE)  # (see Inference.end)
        self.t0 = time.perf_counter()
        if span is not None:
            _open[id(self)] = weakref.ref(self)
            if not _shutdown.registered:
                _shutdown.end_open_at_exit()


def remember(table: dict[Any, Any], key: Any, value: Any) -> Any:
    """``table[key] = value``; past :data:`MAX_UNITS` entries the oldest is dropped and returned
    (a leak guard for runs a framework never ends), else ``None``."""
    table[key] = value
    return forget_oldest(table) if len(table) > MAX_UNITS else None


def forget_oldest(table: dict[Any, Any]) -> Any:
    """Drop the oldest entry of ``table`` and return it (``None`` if there is none)."""
    try:
        return table.pop(next(iter(table)), None)
    except (StopIteration, RuntimeError):  # another thread changed the table meanwhile
        return None


class ContextStack:
    """Enters units' contexts and leaves them in reverse order of entry."""

    def __init__(self) -> None:
        #: Units whose context is entered, by ``id(ctx)``, until they are left.
        self._entered: dict[int, Unit] = {}

    def attach(self, unit: Unit) -> None:
        """Make the unit's span current for the code it runs."""
        unit.token = otel_context.attach(unit.ctx)
        unit.attached = True
        remember(self._entered, id(unit.ctx), unit)  # contexts left without us (gone tasks) age out

    def enter(self, unit: Unit) -> None:
        """Make the unit current in the caller's context, unless it already is."""
        if unit.span is None or unit.released or otel_context.get_current() is unit.ctx:
            return
        self.attach(unit)

    def chunk(self, unit: Unit | None) -> None:
        """A model unit streamed a chunk: time it; at the first, leave its context (the provider
        call beneath has started, so its span has its parent)."""
        inference = unit.inference if unit is not None else None
        if unit is None or inference is None:
            return
        now = time.perf_counter_ns()
        stamps = inference.stamps
        if stamps is None:
            stamps = inference.stamps = []
            inference.stream = True
            self.release(unit)
        stamps.append(now)
        inference.chunks += 1

    def release(self, unit: Unit) -> None:
        """The unit is done with its context: leave it, and any released ones it was covering."""
        if not unit.attached or unit.released:
            return
        unit.released = True
        entered = self._entered
        while True:
            current = otel_context.get_current()
            top = entered.get(id(current))
            if top is None or top.ctx is not current or not top.released:
                return
            try:
                if _runtime is not None:
                    _runtime.detach(top.token)
                else:  # pragma: no cover
                    otel_context.detach(top.token)  # type: ignore[arg-type]
            except Exception:
                return  # entered in another context, which is gone: nothing of ours is left current
            finally:
                entered.pop(id(current), None)


def capture_query(unit: Unit, query: Any) -> None:
    """A retriever's query as ``gen_ai.retrieval.query.text`` (content capture on), redacted and bounded."""
    tel, span = unit.tel, unit.span
    if span is None or query is None or not tel.capture_content:
        return
    text = query if tel.redactor is None else tel.redactor.value(query)[0]
    span.set_attribute(sc.GEN_AI_RETRIEVAL_QUERY_TEXT, str(text)[: tel.max_content_length])


def captured(unit: Unit, value: Any) -> str:
    """``value`` as redacted, bounded JSON (content capture is on)."""
    tel = unit.tel
    value = to_jsonable(value)
    if tel.redactor is not None:
        value = tel.redactor.value(value)[0]
    return dump_json(value, tel.max_content_length)


def end_unit(unit: Unit, error: BaseException | None, outputs: Callable[[Unit, Span], None] | None = None,
             not_errors: frozenset[str] = frozenset(), cut: bool = False, at: tuple[int, int] | None = None,
             unfinished: bool = False) -> bool:
    """End a unit's span once: its error or outputs, and its duration metric. Never raises.
    ``cut``: a model call's stream that ended early; ``at``: when it ended, if not now;
    ``unfinished``: ended as telemetry shuts down (see :meth:`Inference.end`). Whether this call
    ended it."""
    if not next(unit._once, False):
        return False
    unit.ended = True
    _open.pop(id(unit), None)
    end_time = time.time_ns() if at is None else at[0]
    inference = unit.inference
    if inference is not None:
        inference.end(error, cut=cut, at=at, unfinished=unfinished)
        return True
    span = unit.span
    if span is None:
        return True
    try:
        if unfinished:
            span.set_attribute(sc.LLM_UNFINISHED, True)
        # (a GeneratorExit is a generator closed early, a break or a drop: cut short, not failed)
        failed = error is not None and type(error) is not GeneratorExit and type(error).__name__ not in not_errors
        if failed:
            assert error is not None
            mark_error(span, error)
        elif outputs is not None and span.is_recording():
            outputs(unit, span)
        if unit.metric is not None:
            end = time.perf_counter() if at is None else at[1] / 1e9
            unit.tel.metrics.record_duration(unit.metric, unit.name, end - unit.t0,
                                             error_type(error) if failed and error is not None else None)
    except Exception as exc:
        report("framework.end", exc)
    finally:
        span.end(end_time)
    return True
