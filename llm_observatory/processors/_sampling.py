"""Head sampling by rules, and in-process tail sampling.

**Head** (:class:`RuleSampler`): decides when a span starts, from the attributes given at start and
the context helpers' values (``user.id``, ``session.id``, ...), by the first rule that matches, each
with its own ratio, deterministic by trace id. Parent-based by default: a child follows its parent.

**Tail** (:class:`TailSamplingProcessor`): wraps the exporting processor. It buffers a trace's ended
spans until the trace's local root span ends (or a timeout passes), then passes the whole trace on
or drops it: errors, slow traces, expensive traces and traces a predicate selects are always kept,
the rest with probability ``ratio``, deterministic by trace id. Memory is bounded: past
``max_traces`` or ``max_spans`` the oldest traces are decided early. Metrics are not sampled: they
are recorded when calls end, whatever happens to their spans.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, StatusCode, TraceState
from opentelemetry.util.types import Attributes

from .. import semconv as sc
from ..context import attributes_from

logger = logging.getLogger("llm_observatory")

_TRACE_ID_LIMIT = (1 << 64) - 1


def _keeps(trace_id: int, ratio: float) -> bool:
    """The same decision as OpenTelemetry's ``TraceIdRatioBased`` for this trace id and ratio."""
    return (trace_id & _TRACE_ID_LIMIT) < round(ratio * (_TRACE_ID_LIMIT + 1))


@dataclass(frozen=True)
class Rule:
    """Keep a ``ratio`` of the traces whose root span matches ``match`` (key → exact value or glob)."""

    match: Mapping[str, Any]
    ratio: float

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        for key, expected in self.match.items():
            actual = attributes.get(key)
            if actual is None:
                return False
            if isinstance(expected, str) and isinstance(actual, str):
                if not fnmatch.fnmatchcase(actual, expected):
                    return False
            elif actual != expected:
                return False
        return True


class RuleSampler(Sampler):
    """The first matching rule's ratio, else ``default_ratio``; deterministic by trace id."""

    def __init__(self, rules: Sequence[Rule] = (), default_ratio: float = 1.0) -> None:
        for ratio in [default_ratio, *(r.ratio for r in rules)]:
            if not 0.0 <= ratio <= 1.0:
                raise ValueError(f"a sampling ratio must be between 0 and 1, got {ratio}")
        self.rules = list(rules)
        self.default_ratio = default_ratio

    def should_sample(
        self, parent_context: otel_context.Context | None, trace_id: int, name: str, kind: SpanKind | None = None,
        attributes: Attributes = None, links: Sequence[Link] | None = None, trace_state: TraceState | None = None,
    ) -> SamplingResult:
        seen: dict[str, Any] = dict(attributes or {})
        if self.rules:
            seen.update(attributes_from(parent_context if parent_context is not None else otel_context.get_current()))
        ratio = self.default_ratio
        for rule in self.rules:
            if rule.matches(seen):
                ratio = rule.ratio
                break
        decision = Decision.RECORD_AND_SAMPLE if _keeps(trace_id, ratio) else Decision.DROP
        return SamplingResult(decision, attributes if decision is Decision.RECORD_AND_SAMPLE else None, trace_state)

    def get_description(self) -> str:
        return f"RuleSampler(rules={len(self.rules)}, default={self.default_ratio})"


def head_sampler(value: Any) -> Sampler | None:
    """``init(sampling=...)``: a Sampler, a ratio, or ``{"ratio": .., "rules": [...], "parent_based": ..}``."""
    if value is None:
        return None
    if isinstance(value, Sampler):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ParentBased(TraceIdRatioBased(float(value)))
    if isinstance(value, Mapping):
        rules = [r if isinstance(r, Rule) else Rule(dict(r["match"]), float(r["ratio"]))
                 for r in value.get("rules", ())]
        sampler: Sampler = RuleSampler(rules, float(value.get("ratio", 1.0)))
        return ParentBased(sampler) if value.get("parent_based", True) else sampler
    raise ValueError(f"sampling must be a Sampler, a ratio or a mapping, got {type(value).__name__}")


@dataclass
class TailSamplingOptions:
    """``init(tail_sampling={...})``."""

    ratio: float = 0.1
    latency_ms: float | None = 15_000
    cost_usd: float | None = 0.05
    keep_errors: bool = True
    predicate: Callable[[Sequence[ReadableSpan]], bool] | None = None
    timeout_s: float = 30.0
    max_traces: int = 10_000
    max_spans: int = 200_000
    extra: dict[str, Any] = field(default_factory=dict)


class _Pending:
    __slots__ = ("born", "spans")

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []
        self.born = time.monotonic()


class TailSamplingProcessor(SpanProcessor):
    """Buffers each trace's spans and passes kept traces on to ``downstream`` (an exporting processor)."""

    def __init__(self, downstream: SpanProcessor, options: TailSamplingOptions | None = None,
                 on_decision: Callable[[str, str, int], None] | None = None) -> None:
        self.downstream = downstream
        self.options = options or TailSamplingOptions()
        if not 0.0 <= self.options.ratio <= 1.0:
            raise ValueError(f"tail sampling ratio must be between 0 and 1, got {self.options.ratio}")
        self._pending: OrderedDict[int, _Pending] = OrderedDict()
        self._span_count = 0
        self._lock = threading.Lock()
        self._on_decision = on_decision
        self.kept = self.dropped = self.early = 0
        # traces whose root never ends here (it lives in another process) are decided on timeout
        self._stop = threading.Event()
        self._start_timer()
        if hasattr(os, "register_at_fork"):  # a forked worker (gunicorn --preload) gets its own timer
            this = weakref.ref(self)

            def after_fork() -> None:
                processor = this()
                if processor is not None:
                    processor._after_fork()

            os.register_at_fork(after_in_child=after_fork)

    def _start_timer(self) -> None:
        self._timer = threading.Thread(target=self._expire_forever, name="llm-observatory-tail-sampler",
                                       daemon=True)
        self._timer.start()

    def _after_fork(self) -> None:
        """In a forked child: a new lock (the parent's may have been held by another thread), none
        of the parent's waiting traces (the parent decides them), and a new timer thread unless
        shut down (threads do not survive ``fork``)."""
        self._lock = threading.Lock()
        self._pending = OrderedDict()
        self._span_count = 0
        if not self._stop.is_set():
            self._start_timer()

    def _expire_forever(self) -> None:
        interval = max(min(self.options.timeout_s / 4, 5.0), 0.05)
        while not self._stop.wait(interval):
            try:
                self.expire()
            except Exception:
                logger.debug("LLM Observatory: tail-sampling expiry failed", exc_info=True)

    # --- SpanProcessor ---------------------------------------------------------------------------
    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        self.downstream.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None:
            return
        trace_id = ctx.trace_id
        ready: list[tuple[int, _Pending, str]] = []
        with self._lock:
            pending = self._pending.get(trace_id)
            if pending is None:
                pending = self._pending[trace_id] = _Pending()
            pending.spans.append(span)
            self._span_count += 1
            if span.parent is None or span.parent.is_remote:
                self._span_count -= len(pending.spans)
                del self._pending[trace_id]
                ready.append((trace_id, pending, "root"))
            ready += self._evict_locked()
        for tid, item, why in ready:
            self._decide(tid, item.spans, why)

    def _evict_locked(self) -> list[tuple[int, _Pending, str]]:
        """Traces to decide now: past the timeout, or the oldest while over the limits."""
        out: list[tuple[int, _Pending, str]] = []
        options, now = self.options, time.monotonic()
        while self._pending:
            trace_id, oldest = next(iter(self._pending.items()))
            timed_out = now - oldest.born > options.timeout_s
            over = len(self._pending) > options.max_traces or self._span_count > options.max_spans
            if not (timed_out or over):
                break
            del self._pending[trace_id]
            self._span_count -= len(oldest.spans)
            out.append((trace_id, oldest, "timeout" if timed_out else "full"))
        return out

    def _reason(self, trace_id: int, spans: Sequence[ReadableSpan]) -> str | None:
        options = self.options
        if options.keep_errors and any(s.status.status_code is StatusCode.ERROR for s in spans):
            return "error"
        if options.latency_ms is not None:
            starts = [s.start_time for s in spans if s.start_time is not None]
            ends = [s.end_time for s in spans if s.end_time is not None]
            if starts and ends and (max(ends) - min(starts)) / 1e6 >= options.latency_ms:
                return "slow"
        if options.cost_usd is not None:
            cost = 0.0
            for s in spans:
                value = (s.attributes or {}).get(sc.LLM_COST_USD)
                if isinstance(value, (int, float)):
                    cost += value
            if cost >= options.cost_usd:
                return "expensive"
        if options.predicate is not None:
            try:
                if options.predicate(spans):
                    return "predicate"
            except Exception:
                logger.exception("LLM Observatory: the tail-sampling predicate failed; the trace is kept")
                return "predicate_failed"
        if _keeps(trace_id, options.ratio):
            return "ratio"
        return None

    def _decide(self, trace_id: int, spans: Sequence[ReadableSpan], why: str) -> None:
        reason = self._reason(trace_id, spans)
        if why != "root":
            self.early += 1
        if reason is None:
            self.dropped += 1
        else:
            self.kept += 1
            for span in spans:
                self.downstream.on_end(span)
        if self._on_decision is not None:
            try:
                self._on_decision("keep" if reason else "drop", reason or why, len(spans))
            except Exception:
                logger.debug("LLM Observatory: tail-sampling callback failed", exc_info=True)

    def flush_pending(self) -> None:
        """Decide every buffered trace now (what there is of it)."""
        with self._lock:
            items = list(self._pending.items())
            self._pending.clear()
            self._span_count = 0
        for trace_id, pending in items:
            self._decide(trace_id, pending.spans, "flush")

    def expire(self) -> None:
        """Decide the traces that have waited past the timeout (called periodically)."""
        with self._lock:
            ready = self._evict_locked()
        for trace_id, pending, why in ready:
            self._decide(trace_id, pending.spans, why)

    def buffered(self) -> tuple[int, int]:
        """(traces, spans) waiting for a decision."""
        with self._lock:
            return len(self._pending), self._span_count

    def shutdown(self) -> None:
        self._stop.set()
        self.flush_pending()
        self.downstream.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.expire()
        return self.downstream.force_flush(timeout_millis)


__all__ = ["ALWAYS_ON", "Rule", "RuleSampler", "TailSamplingOptions", "TailSamplingProcessor", "head_sampler"]
