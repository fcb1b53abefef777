"""A readable trace tree per trace, with model, tokens and cost, for development.

::

    trace 0af7651916cd43dd8448eb211c80319c  (demo)
    └─ invoke_workflow answer                    412.3 ms
       ├─ execute_tool search                      1.2 ms
       └─ chat gpt-4o-mini                       402.0 ms  gpt-4o-mini-2024-07-18  in 812 / out 96 tok  $0.000179
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, TextIO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from .. import semconv as sc

MAX_PENDING_TRACES = 1000
MAX_SPANS_PER_TRACE = 2000


class ConsoleTreeExporter(SpanExporter):
    """Prints each trace as a tree once its local root span has ended.

    Spans wait in a bounded buffer until their root arrives; when the buffer is full the oldest
    trace is printed as it is. ``shutdown()``/``force_flush()`` print whatever is left.
    """

    def __init__(self, out: TextIO | None = None, *, color: bool | None = None) -> None:
        self._out = out
        self._color = color
        self._pending: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ready: list[list[ReadableSpan]] = []
        with self._lock:
            for span in spans:
                trace_id = span.context.trace_id if span.context else 0
                bucket = self._pending.setdefault(trace_id, [])
                if len(bucket) < MAX_SPANS_PER_TRACE:
                    bucket.append(span)
                if span.parent is None or span.parent.is_remote:
                    ready.append(self._pending.pop(trace_id))
            while len(self._pending) > MAX_PENDING_TRACES:
                ready.append(self._pending.popitem(last=False)[1])
        for trace in ready:
            self.out.write(render_trace(trace, self._use_color()))
        self.out.flush()
        return SpanExportResult.SUCCESS

    def _use_color(self) -> bool:
        if self._color is not None:
            return self._color
        isatty = getattr(self.out, "isatty", None)
        return bool(isatty and isatty())

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            rest = list(self._pending.values())
            self._pending.clear()
        for trace in rest:
            self.out.write(render_trace(trace, self._use_color()))
        return True

    def shutdown(self) -> None:
        self.force_flush()


def _fmt_duration(span: ReadableSpan) -> str:
    if span.start_time is None or span.end_time is None:
        return ""
    ms = (span.end_time - span.start_time) / 1e6
    return f"{ms:,.1f} ms" if ms < 10_000 else f"{ms / 1000:,.2f} s"


def _details(span: ReadableSpan) -> str:
    a: Any = span.attributes or {}
    parts: list[str] = []
    model = a.get(sc.GEN_AI_RESPONSE_MODEL) or a.get(sc.GEN_AI_REQUEST_MODEL)
    if model and str(model) not in span.name:
        parts.append(str(model))
    tin, tout = a.get(sc.GEN_AI_USAGE_INPUT_TOKENS), a.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS)
    if tin is not None or tout is not None:
        est = "~" if a.get(sc.LLM_USAGE_ESTIMATED) else ""
        if tout is None and a.get(sc.GEN_AI_OPERATION_NAME) == sc.Operation.EMBEDDINGS:
            parts.append(f"in {est}{tin} tok")  # embeddings have no output tokens
        else:
            shown_in, shown_out = ("?" if t is None else t for t in (tin, tout))
            parts.append(f"in {est}{shown_in} / out {est}{shown_out} tok")
    ttfc = a.get(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
    if ttfc is not None:
        parts.append(f"ttft {ttfc * 1000:,.0f} ms")
    cost = a.get(sc.LLM_COST_USD)
    if cost is not None:
        parts.append(f"${cost:.6f}")
    elif a.get(sc.LLM_COST_PRICED) is False:
        parts.append("unpriced")
    if span.status.status_code is StatusCode.ERROR:
        parts.append(f"ERROR {a.get(sc.ERROR_TYPE) or span.status.description or ''}".rstrip())
    return "  ".join(parts)


def render_trace(spans: Sequence[ReadableSpan], color: bool = False) -> str:
    """The text tree of one trace's spans (children in start order)."""
    by_id = {s.context.span_id: s for s in spans if s.context}
    children: dict[int | None, list[ReadableSpan]] = {}
    for s in spans:
        parent = s.parent.span_id if s.parent and s.parent.span_id in by_id else None
        children.setdefault(parent, []).append(s)
    for group in children.values():
        group.sort(key=lambda s: s.start_time or 0)
    roots = children.get(None, [])
    first = roots[0] if roots else spans[0]
    service = first.resource.attributes.get(sc.SERVICE_NAME, "") if first.resource else ""
    trace_id = f"{first.context.trace_id:032x}" if first.context else "?"
    dim, red, reset = ("\x1b[2m", "\x1b[31m", "\x1b[0m") if color else ("", "", "")
    lines = [f"{dim}trace {trace_id}  ({service}){reset}"]

    def walk(span: ReadableSpan, prefix: str, last: bool) -> None:
        branch = "└─ " if last else "├─ "
        label = f"{prefix}{branch}{span.name}"
        details = _details(span)
        line = f"{label:<50} {_fmt_duration(span):>11}"
        if details:
            line += f"  {details}"
        if span.status.status_code is StatusCode.ERROR:
            line = f"{red}{line}{reset}"
        lines.append(line)
        kids = children.get(span.context.span_id if span.context else None, [])
        for i, kid in enumerate(kids):
            walk(kid, prefix + ("   " if last else "│  "), i == len(kids) - 1)

    for i, root in enumerate(roots):
        walk(root, "", i == len(roots) - 1)
    return "\n".join(lines) + "\n"
