"""Remote exporters that fail quietly: one concise warning when the endpoint is unreachable.

The OTLP exporters log every failed attempt and retry. With no collector listening that is a
flood of tracebacks in the application's log. :class:`GuardedSpanExporter` (and its metric and log
siblings) swallow those records, say once that telemetry is being dropped, say once when the
endpoint is back, and stop retrying promptly when asked to shut down.

The real exporter is built on first use, in the export thread: building an OTLP exporter imports
its HTTP stack (~90 ms), which would otherwise lengthen the application's start-up.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

logger = logging.getLogger("llm_observatory")

#: Loggers of the OTLP exporters and SDK export paths whose records we replace with our own.
_NOISY_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.http.transport",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc._log_exporter",
    "opentelemetry.exporter.otlp.proto.common",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.metrics._internal.export",
)


class _Silence(logging.Filter):
    """Drops records emitted on a thread that is inside a guarded export."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_state, "exporting", False)


_state = threading.local()
_filter = _Silence()
_installed = False
_guarded: weakref.WeakSet[Any] = weakref.WeakSet()
STALLED_EXPORT_S = 1.0


def abort_failing() -> None:
    """Stop the retries of exporters whose endpoint is known to be unreachable (at shutdown).

    Their pending data could not be delivered anyway; this keeps ``shutdown()`` from waiting
    out the retry back-off. Exporters that work are left to flush normally.
    """
    now = time.monotonic()
    for exporter in list(_guarded):
        health = exporter._health
        # An export in flight for over a second is retrying: a working collector answers in ms.
        if health.failing or (health.inflight_since and now - health.inflight_since > STALLED_EXPORT_S):
            exporter.shutdown()


def _install_filter() -> None:
    global _installed
    if not _installed:
        _installed = True
        for name in _NOISY_LOGGERS:
            logging.getLogger(name).addFilter(_filter)


class _Health:
    """Tracks one signal's export health and logs only on transitions."""

    def __init__(self, signal: str, endpoint: str) -> None:
        self.signal = signal
        self.endpoint = endpoint
        self.failing = False
        self.closed = False
        self.dropped = 0
        self.inflight_since = 0.0

    def result(self, ok: bool, items: int) -> None:
        if ok:
            if self.failing:
                self.failing = False
                logger.warning("LLM Observatory: exporting %s to %s works again (%d items were dropped)",
                               self.signal, self.endpoint, self.dropped)
                self.dropped = 0
            return
        self.dropped += items
        if not self.failing:
            self.failing = True
            logger.warning(
                "LLM Observatory: cannot export %s to %s; telemetry is dropped until it is reachable "
                "(the application is unaffected; this is logged once)", self.signal, self.endpoint,
            )


def _run(health: _Health, items: int, exporter: _Lazy, *args: Any) -> bool:
    if health.closed:
        health.dropped += items
        return False
    _state.exporting = True
    health.inflight_since = time.monotonic()
    try:
        result = exporter.inner.export(*args)
    except Exception:
        result = None
    finally:
        _state.exporting = False
        health.inflight_since = 0.0
    ok = result is not None and getattr(result, "name", "") == "SUCCESS"
    health.result(ok, items)
    return ok


class _Lazy:
    """What the guarded exporters share: the wrapped exporter, built once on first use; its health;
    and a shutdown that happens once and says nothing."""

    def __init__(self, factory: Callable[[], Any], signal: str, endpoint: str) -> None:
        _install_filter()
        self._factory = factory
        self._inner: Any = None
        self._lock = threading.Lock()
        self._health = _Health(signal, endpoint)
        _guarded.add(self)

    @property
    def inner(self) -> Any:
        if self._inner is None:
            with self._lock:
                if self._inner is None:
                    self._inner = self._factory()
        return self._inner

    @property
    def built(self) -> bool:
        return self._inner is not None

    def _close(self, **kwargs: Any) -> None:
        if self._health.closed:
            return
        self._health.closed = True
        if not self.built:
            return
        _state.exporting = True
        try:
            self.inner.shutdown(**kwargs)
        finally:
            _state.exporting = False

    def _flush(self, timeout_millis: float) -> bool:
        return bool(self.inner.force_flush(timeout_millis)) if self.built else True


class GuardedSpanExporter(SpanExporter, _Lazy):
    def __init__(self, factory: Callable[[], SpanExporter], endpoint: str) -> None:
        _Lazy.__init__(self, factory, "spans", endpoint)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = _run(self._health, len(spans), self, spans)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._flush(timeout_millis)


class GuardedMetricExporter(MetricExporter, _Lazy):
    def __init__(self, factory: Callable[[], MetricExporter], endpoint: str) -> None:
        from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import OTLPMetricExporterMixin

        # The preferences the OTLP exporter would compute (they follow the OTEL_* variables).
        mixin = OTLPMetricExporterMixin()
        MetricExporter.__init__(self, preferred_temporality=mixin._get_temporality({}),
                                preferred_aggregation=mixin._get_aggregation({}))
        _Lazy.__init__(self, factory, "metrics", endpoint)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        ok = _run(self._health, 1, self, metrics_data, timeout_millis)
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._close(timeout_millis=timeout_millis)


class GuardedLogExporter(LogRecordExporter, _Lazy):
    def __init__(self, factory: Callable[[], LogRecordExporter], endpoint: str) -> None:
        _Lazy.__init__(self, factory, "logs", endpoint)

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        ok = _run(self._health, len(batch), self, batch)
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self._close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._flush(timeout_millis)
