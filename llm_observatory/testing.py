"""Test kit: capture the spans, metrics and logs of a block of code, deterministically.

::

    from llm_observatory.testing import capture

    def test_answer():
        with capture(capture_content=True) as cap:
            answer("hi")
        assert cap.snapshot() == [...]

Trace and span ids increment from 1 in each capture, and :meth:`Capture.snapshot` replaces
timestamps with their rank (a fixed clock) and timing values with ``"<duration>"``, so a whole
trace compares equal from run to run. For pytest, ``from llm_observatory.testing import
observatory_capture`` in a ``conftest.py`` gives the same as a fixture.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import Sampler

from . import semconv as sc
from .instrumentation._core import _metrics, _telemetry
from .pricing import Pricer
from .processors import ContextEnrichmentProcessor

#: Attributes whose values depend on the wall clock; snapshots show them as ``"<duration>"``.
TIMING_ATTRIBUTES = frozenset({sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK})


class IncrementingIdGenerator(IdGenerator):
    """Trace and span ids 1, 2, 3, ... (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trace = 0
        self._span = 0

    def generate_span_id(self) -> int:
        with self._lock:
            self._span += 1
            return self._span

    def generate_trace_id(self) -> int:
        with self._lock:
            self._trace += 1
            return self._trace


class Capture:
    """What a :func:`capture` block recorded."""

    def __init__(self, spans: InMemorySpanExporter, metrics: InMemoryMetricReader,
                 logs: InMemoryLogRecordExporter, tracer_provider: TracerProvider,
                 meter_provider: MeterProvider, logger_provider: LoggerProvider,
                 telemetry: _telemetry.Telemetry) -> None:
        self._spans = spans
        self._metric_reader = metrics
        self._logs = logs
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.logger_provider = logger_provider
        self.telemetry = telemetry

    def spans(self) -> list[ReadableSpan]:
        """Finished spans, in the order they ended (a stream dropped unclosed included: its end,
        left to the background thread, is done first)."""
        _metrics.flush_all()
        return list(self._spans.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        """The one finished span called ``name`` (fails if there are none or several)."""
        found = [s for s in self.spans() if s.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one span named {name!r}, found {len(found)}: "
                                 f"{[s.name for s in self.spans()]}")
        return found[0]

    def clear(self) -> None:
        self._spans.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        """Finished spans as plain dicts, in start order, with ids and times made deterministic."""
        spans = sorted(self.spans(), key=lambda s: (s.start_time or 0, s.context.span_id if s.context else 0))
        times = sorted({t for s in spans for t in (s.start_time, s.end_time) if t is not None})
        rank = {t: i for i, t in enumerate(times)}
        out = []
        for s in spans:
            attrs = {k: ("<duration>" if k in TIMING_ATTRIBUTES else (list(v) if isinstance(v, tuple) else v))
                     for k, v in (s.attributes or {}).items()}
            entry: dict[str, Any] = {
                "name": s.name,
                "kind": s.kind.name,
                "trace_id": s.context.trace_id if s.context else None,
                "span_id": s.context.span_id if s.context else None,
                "parent_id": s.parent.span_id if s.parent else None,
                "start": rank.get(s.start_time) if s.start_time is not None else None,
                "end": rank.get(s.end_time) if s.end_time is not None else None,
                "status": s.status.status_code.name,
                "attributes": attrs,
            }
            if s.events:
                entry["events"] = [e.name for e in s.events]
            out.append(entry)
        return out

    def metrics(self) -> dict[str, list[dict[str, Any]]]:
        """Metric points by metric name: ``{"attributes": ..., "value"|"sum"+"count": ...}``."""
        result: dict[str, list[dict[str, Any]]] = {}
        _metrics.flush_all()  # (the queued points, and those of the queued ends: see spans())
        data = self._metric_reader.get_metrics_data()
        if data is None:
            return result
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    points = result.setdefault(metric.name, [])
                    for p in metric.data.data_points:
                        point: dict[str, Any] = {"attributes": dict(p.attributes or {})}
                        if hasattr(p, "count"):
                            point["count"] = p.count
                            point["sum"] = getattr(p, "sum", None)
                        else:
                            point["value"] = getattr(p, "value", None)
                        points.append(point)
        return result

    def logs(self) -> list[Any]:
        """Log records (the opt-in details events), as :meth:`spans` (queued ends first)."""
        _metrics.flush_all()
        return list(self._logs.get_finished_logs())


@contextmanager
def capture(
    *,
    capture_content: bool = False,
    max_content_length: int = 16384,
    metrics_mode: str = "legacy",
    chunk_metrics: str = "each",
    sampler: Sampler | None = None,
    pricer: Pricer | None = None,
    stream_usage: bool = False,
    redact: Any = None,
    content_events: bool = False,
    content_on_spans: bool = True,
) -> Iterator[Capture]:
    """Route LLM Observatory's telemetry to memory for the duration of the block."""
    from .processors._redaction import RedactingLogExporter, RedactingSpanExporter, Redactor, redaction_options

    spans = InMemorySpanExporter()
    redaction = redaction_options(capture_content if redact is None else redact)
    redactor = None if redaction is None else Redactor(redaction)
    tp = TracerProvider(resource=Resource({sc.SERVICE_NAME: "test"}), id_generator=IncrementingIdGenerator(),
                        sampler=sampler)
    tp.add_span_processor(ContextEnrichmentProcessor())
    tp.add_span_processor(SimpleSpanProcessor(spans if redactor is None else RedactingSpanExporter(spans, redactor)))
    reader = InMemoryMetricReader()
    mp = MeterProvider(resource=Resource({sc.SERVICE_NAME: "test"}), metric_readers=[reader])
    logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    lp = LoggerProvider(resource=Resource({sc.SERVICE_NAME: "test"}))
    log_exporter: Any = logs if redactor is None else RedactingLogExporter(logs, redactor)
    lp.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    tel = _telemetry.build(tp, mp, capture_content=capture_content, max_content_length=max_content_length,
                           metrics_mode=metrics_mode, chunk_metrics=chunk_metrics, pricer=pricer,
                           stream_usage=stream_usage, redactor=redactor, logger_provider=lp,
                           content_events=content_events, content_on_spans=content_on_spans)
    previous = _telemetry.install(tel)
    try:
        yield Capture(spans, reader, logs, tp, mp, lp, tel)
    finally:
        _metrics.flush_all()  # the ends of streams dropped in the block, left for the background thread
        _telemetry.install(previous)
        tp.shutdown()
        mp.shutdown()
        lp.shutdown()


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is optional
    pass
else:

    @pytest.fixture
    def observatory_capture() -> Iterator[Capture]:
        """A :func:`capture` around the test, content capture off."""
        with capture() as cap:
            yield cap
