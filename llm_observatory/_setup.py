"""Builds (or joins) the tracer, meter and logger providers, then installs the instrumentations.

Coexistence rules: a provider the application already set is never replaced. ``init()`` adds its
processors to it, and adds an exporter only when one was asked for explicitly (``exporter=`` or
``LLM_OBSERVATORY_EXPORTER``), since the application's provider already exports. ``shutdown()``
and ``force_flush()`` touch only what ``init()`` created or added, within a time bound.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import _logs as otel_logs
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler

from . import context, semconv
from ._config import Options, exporter_names
from .exporters import ConsoleTreeExporter
from .exporters._guard import (
    STALLED_EXPORT_S,
    GuardedLogExporter,
    GuardedMetricExporter,
    GuardedSpanExporter,
    abort_failing,
)
from .instrumentation import REGISTRY
from .instrumentation._core import _metrics, _telemetry
from .instrumentation._core._imports import when_imported
from .pricing import PriceTable, PricingConfigError, default_pricer, parse_overrides
from .processors import ContextEnrichmentProcessor

logger = logging.getLogger("llm_observatory")

_lock = threading.RLock()
#: Tracer providers that an earlier init() created; a later init() reuses them (the global
#: tracer provider can be set only once per process).
_created_tracer_providers: weakref.WeakSet[TracerProvider] = weakref.WeakSet()
_atexit_registered = False


@dataclass
class _State:
    options: Options
    tracer_provider: TracerProvider
    span_processors: list[SpanProcessor] = field(default_factory=list)
    meter_provider: MeterProvider | None = None
    logger_provider: LoggerProvider | None = None
    instrumentors: list[Any] = field(default_factory=list)
    previous_telemetry: _telemetry.Telemetry | None = None
    shut_down: bool = False


_state: _State | None = None


def is_initialized() -> bool:
    return _state is not None


def _otlp_endpoint(options: Options, signal: str) -> str | None:
    if not options.endpoint:
        return None
    base = options.endpoint.rstrip("/")
    return base if options.protocol == "grpc" else f"{base}/v1/{signal}"


def _display_endpoint(options: Options, signal: str) -> str:
    """Where the exporter for ``signal`` sends to, for messages (the exporter resolves the same)."""
    explicit = _otlp_endpoint(options, signal)
    if explicit:
        return explicit
    specific = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    if specific:
        return specific
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if options.protocol == "grpc":
        return base or "http://localhost:4317"
    return f"{(base or 'http://localhost:4318').rstrip('/')}/v1/{signal}"


def _otlp_factory(options: Options, signal: str) -> Callable[[], Any]:
    """A function building the OTLP exporter of ``signal`` (traces, metrics or logs)."""
    kwargs: dict[str, Any] = {"timeout": options.export_timeout}
    if options.headers is not None:
        kwargs["headers"] = dict(options.headers)
    endpoint = _otlp_endpoint(options, signal)
    if endpoint:
        kwargs["endpoint"] = endpoint
    transport = "grpc" if options.protocol == "grpc" else "http"
    module, cls = {
        "traces": (f"opentelemetry.exporter.otlp.proto.{transport}.trace_exporter", "OTLPSpanExporter"),
        "metrics": (f"opentelemetry.exporter.otlp.proto.{transport}.metric_exporter", "OTLPMetricExporter"),
        "logs": (f"opentelemetry.exporter.otlp.proto.{transport}._log_exporter", "OTLPLogExporter"),
    }[signal]

    def build() -> Any:
        return getattr(importlib.import_module(module), cls)(**kwargs)

    return build


def _span_exporter(options: Options) -> SpanExporter:
    return GuardedSpanExporter(_otlp_factory(options, "traces"), _display_endpoint(options, "traces"))


def _metric_reader(options: Options) -> MetricReader:
    exporter = GuardedMetricExporter(_otlp_factory(options, "metrics"), _display_endpoint(options, "metrics"))
    return PeriodicExportingMetricReader(exporter, export_timeout_millis=options.export_timeout * 1000)


def _log_processor(options: Options, redactor: Any) -> BatchLogRecordProcessor:
    exporter: Any = GuardedLogExporter(_otlp_factory(options, "logs"), _display_endpoint(options, "logs"))
    if redactor is not None:
        from .processors._redaction import RedactingLogExporter

        exporter = RedactingLogExporter(exporter, redactor)
    return BatchLogRecordProcessor(exporter)


def _signal_exporters(var: str, span_exporters: Sequence[Any]) -> set[str]:
    raw = os.environ.get(var)
    if raw is not None and raw.strip():
        return {n.strip().lower() for n in raw.split(",")}
    return {"otlp"} if "otlp" in span_exporters else set()


def init(
    *,
    service_name: str | None = None,
    environment: str | None = None,
    exporter: str | SpanExporter | Sequence[str | SpanExporter] | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: dict[str, str] | None = None,
    export_timeout: float | None = None,
    batch: bool | None = None,
    metrics: bool | None = None,
    metrics_mode: str | None = None,
    chunk_metrics: str | None = None,
    metric_readers: Sequence[MetricReader] = (),
    logs: bool | None = None,
    capture_content: bool | None = None,
    content_events: bool | None = None,
    content_on_spans: bool | None = None,
    max_content_length: int | None = None,
    prices: Any = None,
    redact: Any = None,
    sampling: Any = None,
    tail_sampling: Any = None,
    stream_usage: bool | None = None,
    instrument: Sequence[str] | None = None,
    disable: Sequence[str] | None = None,
    propagate_threads: bool | None = None,
    baggage: bool | None = None,
    resource_attributes: dict[str, Any] | None = None,
    sampler: Sampler | None = None,
    span_processors: Sequence[SpanProcessor] = (),
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    logger_provider: LoggerProvider | None = None,
) -> None:
    """Set up tracing, metrics and logs for LLM calls, and instrument every available library.

    Every option also has an environment variable (see ``docs/configuration.md``); keyword
    arguments win. Calling ``init()`` again warns and changes nothing: call :func:`shutdown` first.
    """
    global _state, _atexit_registered
    with _lock:
        if _state is not None:
            logger.warning("LLM Observatory: init() was already called; this call changes nothing "
                           "(call shutdown() first to configure it again)")
            return
        try:
            _state = _init(
                Options.resolve(
                    service_name=service_name, environment=environment,
                    exporter=None if exporter is None else exporter_names(exporter),
                    endpoint=endpoint, protocol=protocol, headers=headers, export_timeout=export_timeout,
                    batch=batch, metrics=metrics, metrics_mode=metrics_mode, chunk_metrics=chunk_metrics, logs=logs,
                    capture_content=capture_content, content_events=content_events,
                    content_on_spans=content_on_spans, max_content_length=max_content_length, prices=prices,
                    stream_usage=stream_usage, redact=redact, sampling=sampling, tail_sampling=tail_sampling,
                    instrument=None if instrument is None else tuple(i.lower() for i in instrument),
                    disable=None if disable is None else tuple(d.lower() for d in disable),
                    propagate_threads=propagate_threads, baggage=baggage,
                ),
                export_requested=exporter is not None or bool(os.environ.get("LLM_OBSERVATORY_EXPORTER")),
                metric_readers=metric_readers, resource_attributes=resource_attributes, sampler=sampler,
                span_processors=span_processors, tracer_provider=tracer_provider,
                meter_provider=meter_provider, logger_provider=logger_provider,
            )
        except Exception:
            logger.exception("LLM Observatory: init() failed; the application runs without it")
            return
        if not _atexit_registered:
            _atexit_registered = True
            atexit.register(_shutdown_at_exit)


def _init(
    options: Options, *, export_requested: bool, metric_readers: Sequence[MetricReader],
    resource_attributes: dict[str, Any] | None, sampler: Sampler | None,
    span_processors: Sequence[SpanProcessor], tracer_provider: TracerProvider | None,
    meter_provider: MeterProvider | None, logger_provider: LoggerProvider | None,
) -> _State:
    attrs: dict[str, Any] = dict(resource_attributes or {})
    if options.service_name:
        attrs[semconv.SERVICE_NAME] = options.service_name
    if options.environment:
        attrs[semconv.DEPLOYMENT_ENVIRONMENT_NAME] = options.environment
    resource = Resource.create(attrs)

    # --- traces -----------------------------------------------------------------------------
    existing = otel_trace.get_tracer_provider()
    own = False
    if tracer_provider is not None:
        tp = tracer_provider
    elif isinstance(existing, TracerProvider):
        tp = existing
        own = existing in _created_tracer_providers
    else:
        tp = TracerProvider(resource=resource, sampler=sampler or _head_sampler(options), shutdown_on_exit=False)
        otel_trace.set_tracer_provider(tp)
        _created_tracer_providers.add(tp)
        own = True
    state = _State(options=options, tracer_provider=tp)
    redactor = _telemetry.redactor_for(options)
    tail = _tail_options(options)
    processors: list[SpanProcessor] = [ContextEnrichmentProcessor(), *span_processors]
    if own or export_requested:
        for item in options.exporter:
            if item == "none":
                continue
            exp = ConsoleTreeExporter() if item == "console" else _span_exporter(options) if item == "otlp" else item
            if not isinstance(exp, SpanExporter):
                logger.warning("LLM Observatory: exporter %r is not a SpanExporter; ignored", exp)
                continue
            if redactor is not None:  # every span, ours or not, is redacted before it leaves
                from .processors._redaction import RedactingSpanExporter

                exp = RedactingSpanExporter(exp, redactor)
            batch = options.batch and item != "console"
            exporting: SpanProcessor = BatchSpanProcessor(exp) if batch else SimpleSpanProcessor(exp)
            if tail is not None:
                from .processors._sampling import TailSamplingProcessor

                exporting = TailSamplingProcessor(exporting, tail, on_decision=_count_tail_decision)
            processors.append(exporting)
    for proc in processors:
        tp.add_span_processor(proc)
    state.span_processors = processors

    # --- metrics ----------------------------------------------------------------------------
    mp: Any = NoOpMeterProvider()
    if options.metrics:
        existing_mp = otel_metrics.get_meter_provider()
        if meter_provider is not None:
            mp = meter_provider
        elif isinstance(existing_mp, MeterProvider) and not getattr(existing_mp, "_llm_observatory", False):
            mp = existing_mp
        else:
            readers = list(metric_readers)
            if "otlp" in _signal_exporters("OTEL_METRICS_EXPORTER", options.exporter):
                readers.append(_metric_reader(options))
            mp = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)
            mp._llm_observatory = True  # type: ignore[attr-defined]
            if not isinstance(existing_mp, MeterProvider):
                otel_metrics.set_meter_provider(mp)
            state.meter_provider = mp

    # --- logs (GenAI events) ------------------------------------------------------------------
    if options.logs:
        existing_lp = otel_logs.get_logger_provider()
        if logger_provider is None and not isinstance(existing_lp, LoggerProvider):
            lp = LoggerProvider(resource=resource, shutdown_on_exit=False)
            if "otlp" in _signal_exporters("OTEL_LOGS_EXPORTER", options.exporter):
                lp.add_log_record_processor(_log_processor(options, redactor))
            otel_logs.set_logger_provider(lp)
            state.logger_provider = lp

    state.previous_telemetry = _telemetry.install(
        _telemetry.build(tp, mp, capture_content=options.capture_content,
                         max_content_length=options.max_content_length, metrics_mode=options.metrics_mode,
                         chunk_metrics=options.chunk_metrics,
                         pricer=_pricer(options), stream_usage=options.stream_usage, redactor=redactor,
                         logger_provider=logger_provider or state.logger_provider,
                         content_events=options.content_events and options.logs,
                         content_on_spans=options.content_on_spans)
    )
    context.set_baggage_enabled(options.baggage)
    if options.propagate_threads:
        context.install_thread_propagation()
    _install_instrumentors(state)
    # Last, so it does not compete with init() itself: the price data (~0.3 s to load) is ready
    # before the first model call in most applications.
    pricer = _telemetry.current().pricer
    if isinstance(pricer, PriceTable):
        pricer.warm_up()
    return state


def _head_sampler(options: Options) -> Sampler | None:
    if options.sampling is None:
        return None
    from .processors._sampling import head_sampler

    try:
        return head_sampler(options.sampling)
    except (TypeError, ValueError, KeyError) as exc:
        logger.error("LLM Observatory: sampling settings ignored (%s); sampling everything", exc)
        return None


def _tail_options(options: Options) -> Any:
    value = options.tail_sampling
    if value is None or value is False:
        return None
    from .processors._sampling import TailSamplingOptions

    try:
        if value is True:
            return TailSamplingOptions()
        if isinstance(value, TailSamplingOptions):
            return value
        if isinstance(value, (int, float)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"the tail-sampling ratio must be between 0 and 1, got {value}")
            return TailSamplingOptions(ratio=float(value))
        return TailSamplingOptions(**dict(value))
    except (TypeError, ValueError) as exc:
        logger.error("LLM Observatory: tail sampling off: bad settings (%s)", exc)
        return None


def _count_tail_decision(decision: str, reason: str, spans: int) -> None:
    metrics = _telemetry.current().metrics
    metrics.count(metrics.tail_sampling, 1,
                  {semconv.LLM_SAMPLING_DECISION: decision, semconv.LLM_SAMPLING_REASON: reason})


def _pricer(options: Options) -> PriceTable:
    """The price table with the user's overrides; a bad override is reported and skipped."""
    table = default_pricer()
    if options.prices is not None:
        try:
            table = PriceTable(parse_overrides(options.prices))
        except PricingConfigError as exc:
            logger.error("LLM Observatory: price overrides ignored: %s", exc)
    return table


def _install_instrumentors(state: _State) -> None:
    """Instrument each enabled library when the application imports it (now, if it already has).

    A post-import hook keeps ``init()`` from importing libraries the application never uses.
    """
    options = state.options
    for name, (module, target) in REGISTRY.items():
        if options.instrument is not None and name not in options.instrument:
            continue
        if name in options.disable or "*" in options.disable:
            continue
        if not _installed(module):
            logger.debug("LLM Observatory: %s is not installed; not instrumented", module)
            continue
        when_imported(module, _instrument_hook(state, name, target))


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (a dotted name's parent package may
    be missing altogether: ``find_spec("llama_index.core")`` raises when ``llama_index`` is absent)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _instrument_hook(state: _State, name: str, target: str) -> Callable[[Any], None]:
    def hook(_module: Any) -> None:
        with _lock:
            if _state is not state and _state is not None:
                return  # a later init() owns the instrumentation now
            if state.shut_down:
                return
            try:
                mod_name, _, cls_name = target.partition(":")
                instrumentor = getattr(importlib.import_module(mod_name), cls_name)()
                instrumentor.instrument()
                state.instrumentors.append(instrumentor)
            except Exception:
                logger.exception("LLM Observatory: could not instrument %s; continuing without it", name)

    return hook


def _bounded(work: Callable[[], Any], timeout: float, what: str, abort_stalled: bool = False) -> bool:
    """Run ``work`` in a daemon thread and wait at most ``timeout`` seconds for it.

    With ``abort_stalled`` (at shutdown), exports still retrying after a second are aborted
    (:func:`abort_failing`): a working collector answers in milliseconds.
    """
    done = threading.Event()

    def run() -> None:
        try:
            work()
        except Exception:
            logger.exception("LLM Observatory: %s failed", what)
        finally:
            done.set()

    threading.Thread(target=run, name=f"llm-observatory-{what}", daemon=True).start()
    deadline = time.monotonic() + timeout
    if abort_stalled and not done.wait(min(timeout, STALLED_EXPORT_S)):
        abort_failing()
    if not done.wait(max(deadline - time.monotonic(), 0.0)):
        logger.warning("LLM Observatory: %s did not finish within %.1f s; pending telemetry may be lost",
                       what, timeout)
        return False
    return True


def force_flush(timeout: float | None = None) -> bool:
    """Export what is buffered now. Returns ``False`` if it did not finish within ``timeout`` s."""
    state = _state
    if state is None:
        return True
    limit = state.options.export_timeout if timeout is None else timeout
    millis = int(limit * 1000)

    def work() -> None:
        _metrics.flush_all()  # the points queued, and the ends of streams dropped unclosed
        for proc in state.span_processors:
            proc.force_flush(millis)
        if state.meter_provider is not None:
            state.meter_provider.force_flush(millis)
        if state.logger_provider is not None:
            state.logger_provider.force_flush(millis)

    return _bounded(work, limit, "force_flush")


def _remove_processor(tp: TracerProvider, proc: SpanProcessor) -> None:
    multi = tp._active_span_processor
    with multi._lock:
        multi._span_processors = tuple(p for p in multi._span_processors if p is not proc)


def shutdown(timeout: float | None = None) -> bool:
    """Flush and stop what ``init()`` set up, and remove the instrumentation.

    Bounded: returns within ``timeout`` seconds (default: the export timeout), ``False`` if the
    exporters had not finished by then. Providers the application owns are left running.
    """
    global _state
    with _lock:
        state, _state = _state, None
        if state is not None:
            state.shut_down = True
    if state is None:
        return True
    from .instrumentation._core._shutdown import end_open

    end_open()  # a stream, call or framework run still open is exported now, cut short, rather than lost
    _metrics.flush_all(timeout=_metrics.EXIT_WAIT_S)  # and one dropped unclosed (its end left for later)
    for instrumentor in state.instrumentors:
        try:
            instrumentor.uninstrument()
        except Exception:
            logger.exception("LLM Observatory: could not uninstrument %r", instrumentor)
    context.uninstall_thread_propagation()
    context.set_baggage_enabled(False)
    ours = _telemetry.install(state.previous_telemetry)
    for proc in state.span_processors:
        try:
            _remove_processor(state.tracer_provider, proc)
        except Exception:
            logger.debug("LLM Observatory: could not detach %r", proc, exc_info=True)
    limit = state.options.export_timeout if timeout is None else timeout

    def work() -> None:
        if ours is not None:
            ours.metrics.flush()
        for proc in state.span_processors:
            proc.shutdown()
        if state.meter_provider is not None:
            state.meter_provider.shutdown(timeout_millis=limit * 1000)
        if state.logger_provider is not None:
            state.logger_provider.shutdown()

    return _bounded(work, limit, "shutdown", abort_stalled=True)


def _shutdown_at_exit() -> None:
    shutdown()
