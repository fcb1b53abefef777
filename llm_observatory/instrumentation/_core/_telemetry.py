"""The tracer, metrics and content settings that instrumentation uses at call time.

``init()`` and :func:`llm_observatory.testing.capture` install a :class:`Telemetry`; with neither
(zero-code set-ups, or an app that set the global providers itself) one is built lazily from the
global OpenTelemetry providers and the environment.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Tracer, TracerProvider

from ... import semconv
from ...version import __version__
from ._metrics import Metrics

if TYPE_CHECKING:
    from ...pricing import Pricer

SCOPE = "llm_observatory"


@dataclass(frozen=True)
class Telemetry:
    tracer: Tracer
    metrics: Metrics
    capture_content: bool = False
    max_content_length: int = 16384
    pricer: Pricer | None = None
    #: Ask providers for stream usage the app did not request (and hide it from the app).
    stream_usage: bool = False
    #: Applied to captured content before it is serialised (``None``: no redaction).
    redactor: Any = None
    #: Emits ``gen_ai.client.inference.operation.details`` events (``None``: no events).
    event_logger: Any = None
    #: Put captured content on spans (``False`` with ``EVENT_ONLY``).
    content_on_spans: bool = True


def build(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    *,
    capture_content: bool | None = None,
    max_content_length: int | None = None,
    metrics_mode: str | None = None,
    chunk_metrics: str | None = None,
    pricer: Any = None,
    stream_usage: bool | None = None,
    redactor: Any = ...,
    logger_provider: Any = None,
    content_events: bool | None = None,
    content_on_spans: bool | None = None,
) -> Telemetry:
    """A :class:`Telemetry` over the given providers (the global ones where ``None``).

    ``redactor``: ``...`` (default) derives it from the options: on whenever content capture is on,
    unless redaction is explicitly off, so captured content is redacted even without ``init()``.
    """
    from ..._config import Options
    from ...pricing import default_pricer

    options = Options.resolve(
        capture_content=capture_content, max_content_length=max_content_length, metrics_mode=metrics_mode,
        chunk_metrics=chunk_metrics,
        stream_usage=stream_usage, content_events=content_events, content_on_spans=content_on_spans,
    )
    if redactor is ...:
        redactor = redactor_for(options)
    tp = tracer_provider or otel_trace.get_tracer_provider()
    mp = meter_provider or otel_metrics.get_meter_provider()
    return Telemetry(
        tracer=tp.get_tracer(SCOPE, __version__, schema_url=semconv.SCHEMA_URL),
        metrics=Metrics(mp.get_meter(SCOPE, __version__, schema_url=semconv.SCHEMA_URL), options.metrics_mode,
                        options.chunk_metrics),
        capture_content=options.capture_content,
        max_content_length=options.max_content_length,
        pricer=pricer if pricer is not None else default_pricer(),
        stream_usage=options.stream_usage,
        redactor=redactor,
        event_logger=_event_logger(logger_provider) if options.content_events and options.capture_content else None,
        content_on_spans=options.content_on_spans,
    )


def _event_logger(logger_provider: Any) -> Any:
    from opentelemetry import _logs

    provider = logger_provider or _logs.get_logger_provider()
    return provider.get_logger(SCOPE, __version__, schema_url=semconv.SCHEMA_URL)


def redactor_for(options: Any) -> Any:
    """The redactor the options ask for: on by default when content capture is on. A bad setting
    is reported and the built-in detectors are used (redaction fails closed, never off)."""
    setting = options.redact if options.redact is not None else options.capture_content
    if not setting:
        return None
    from ...processors._redaction import Redactor, redaction_options

    try:
        redaction = redaction_options(setting)
        return None if redaction is None else Redactor(redaction)
    except (TypeError, ValueError) as exc:
        logging.getLogger("llm_observatory").error(
            "LLM Observatory: redaction settings ignored (%s); using the built-in detectors", exc)
        return Redactor()


_current: Telemetry | None = None
_lock = threading.Lock()


def current() -> Telemetry:
    """The telemetry in force (built from the globals on first use when none was installed)."""
    global _current
    t = _current
    if t is None:
        with _lock:
            if _current is None:
                _current = build()
            t = _current
    return t


def install(telemetry: Telemetry | None) -> Telemetry | None:
    """Make ``telemetry`` current; returns the previous one (``None``: rebuild from globals)."""
    global _current
    with _lock:
        previous, _current = _current, telemetry
    return previous
