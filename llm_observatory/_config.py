"""Options of :func:`llm_observatory.init`, each declared once with its environment variables.

Precedence: a keyword argument given to ``init()`` wins, then the first ``LLM_OBSERVATORY_*``
variable that is set, then the standard ``OTEL_*`` variable, then the default. A value that
cannot be parsed is reported with a warning and the default is used: configuration never
crashes the host application.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

logger = logging.getLogger("llm_observatory")

Protocol = Literal["http/protobuf", "grpc"]
MetricsMode = Literal["legacy", "latest", "both"]
ChunkMetrics = Literal["each", "mean"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _parse_capture(raw: str) -> bool:
    # OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT takes true/false, or the newer
    # NO_CONTENT / SPAN_ONLY / EVENT_ONLY / SPAN_AND_EVENT modes.
    value = raw.strip().upper()
    if value in {"SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT"}:
        return True
    if value == "NO_CONTENT":
        return False
    return _parse_bool(raw)


def _parse_otel_events(raw: str) -> bool:
    # OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: only EVENT_ONLY and SPAN_AND_EVENT ask for events.
    return raw.strip().upper() in {"EVENT_ONLY", "SPAN_AND_EVENT"}


def _parse_spans(raw: str) -> bool:
    # EVENT_ONLY keeps content off the spans; every other value leaves it on them.
    return raw.strip().upper() != "EVENT_ONLY"


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip().lower() for item in raw.split(",") if item.strip())


def _parse_headers(raw: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected key=value pairs separated by commas, got {item!r}")
        headers[key.strip().lower()] = value.strip()
    return headers


def _parse_protocol(raw: str) -> str:
    value = raw.strip().lower()
    if value in {"http", "http/protobuf"}:
        return "http/protobuf"
    if value == "grpc":
        return "grpc"
    raise ValueError(f"expected 'http/protobuf' or 'grpc', got {raw!r}")


def _parse_metrics_mode(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"legacy", "latest", "both"}:
        raise ValueError(f"expected legacy, latest or both, got {raw!r}")
    return value


def _parse_chunk_metrics(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"each", "mean"}:
        raise ValueError(f"expected each or mean, got {raw!r}")
    return value


def _parse_exporters(raw: str) -> tuple[str, ...]:
    names = _parse_list(raw)
    unknown = [n for n in names if n not in {"otlp", "console", "none"}]
    if unknown:
        raise ValueError(f"unknown exporter {unknown[0]!r} (expected otlp, console or none)")
    return names or ("none",)


def _parse_positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {raw!r}")
    return value


def _parse_positive_float(raw: str) -> float:
    value = float(raw)
    if not 0 < value < math.inf:  # (NaN fails this too)
        raise ValueError(f"expected a positive number, got {raw!r}")
    return value


def _parse_ratio(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 1:  # (NaN fails this too)
        raise ValueError(f"expected a ratio from 0 to 1, got {raw!r}")
    return value


def _option(default: Any, *env: str, parse: Callable[[str], Any] | None = None, doc: str = "",
            parsers: Mapping[str, Callable[[str], Any]] | None = None) -> Any:
    """An option. ``parsers``: a different parser for some of its variables."""
    return field(default=default, metadata={"env": env, "parse": parse, "doc": doc, "parsers": parsers or {}})


@dataclass(frozen=True)
class Options:
    """The resolved configuration. Build it with :meth:`resolve`."""

    service_name: str | None = _option(
        None, "LLM_OBSERVATORY_SERVICE_NAME", "OTEL_SERVICE_NAME", parse=str,
        doc="`service.name` of the resource.",
    )
    environment: str | None = _option(
        None, "LLM_OBSERVATORY_ENVIRONMENT", parse=str, doc="`deployment.environment.name` of the resource."
    )
    exporter: tuple[Any, ...] = _option(
        ("otlp",), "LLM_OBSERVATORY_EXPORTER", "OTEL_TRACES_EXPORTER", parse=_parse_exporters,
        doc="Span exporters: `otlp`, `console`, `none`, or an exporter instance (code only).",
    )
    endpoint: str | None = _option(
        None, "LLM_OBSERVATORY_ENDPOINT", parse=str,
        doc="OTLP base URL. Unset: the exporters read `OTEL_EXPORTER_OTLP_ENDPOINT` (default localhost).",
    )
    protocol: Protocol = _option(
        "http/protobuf", "LLM_OBSERVATORY_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL", parse=_parse_protocol,
        doc="OTLP protocol: `http/protobuf` or `grpc`.",
    )
    headers: Mapping[str, str] | None = _option(
        None, "LLM_OBSERVATORY_HEADERS", parse=_parse_headers,
        doc="OTLP headers (`k=v,k2=v2`). Unset: the exporters read `OTEL_EXPORTER_OTLP_HEADERS`.",
    )
    export_timeout: float = _option(
        5.0, "LLM_OBSERVATORY_EXPORT_TIMEOUT", parse=_parse_positive_float,
        doc="Seconds an export request may take; also bounds `shutdown()` and `force_flush()`.",
    )
    batch: bool = _option(
        True, "LLM_OBSERVATORY_BATCH", parse=_parse_bool,
        doc="Export spans in a background batch (true) or synchronously at span end (false).",
    )
    metrics: bool = _option(
        True, "LLM_OBSERVATORY_METRICS", parse=_parse_bool, doc="Record and export metrics."
    )
    metrics_mode: MetricsMode = _option(
        "legacy", "LLM_OBSERVATORY_METRICS_MODE", parse=_parse_metrics_mode,
        doc="GenAI metric names: `legacy` (`gen_ai.client.operation.*`), `latest` "
        "(`gen_ai.client.inference.*`) or `both`.",
    )
    chunk_metrics: ChunkMetrics = _option(
        "each", "LLM_OBSERVATORY_CHUNK_METRICS", parse=_parse_chunk_metrics,
        doc="A stream's `time_per_output_chunk` points: `each` (one per chunk after the first, the time since "
        "the one before: the convention's rule; ~10 µs of background CPU a chunk) or `mean` (one per stream, "
        "its mean gap).",
    )
    logs: bool = _option(
        True, "LLM_OBSERVATORY_LOGS", parse=_parse_bool, doc="Set up a logger provider for GenAI events."
    )
    capture_content: bool = _option(
        False, "LLM_OBSERVATORY_CAPTURE_CONTENT", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        parse=_parse_capture, doc="Record prompts, completions, tool arguments and decorator inputs/outputs.",
    )
    content_events: bool = _option(
        False, "LLM_OBSERVATORY_CONTENT_EVENTS", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        parse=_parse_bool, parsers={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": _parse_otel_events},
        doc="With content capture on, also emit each call as a `gen_ai.client.inference.operation.details` "
        "event (a log record with structured content). The OTel variable's EVENT_ONLY/SPAN_AND_EVENT turn it on.",
    )
    content_on_spans: bool = _option(
        True, "LLM_OBSERVATORY_CONTENT_ON_SPANS", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        parse=_parse_bool, parsers={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": _parse_spans},
        doc="Put captured content on spans (EVENT_ONLY: on events only).",
    )
    max_content_length: int = _option(
        16384, "LLM_OBSERVATORY_MAX_CONTENT_LENGTH", parse=_parse_positive_int,
        doc="Characters of captured content kept per attribute; longer values are truncated.",
    )
    instrument: tuple[str, ...] | None = _option(
        None, "LLM_OBSERVATORY_INSTRUMENT", parse=_parse_list,
        doc="Instrumentations to enable (`openai,anthropic,...`). Unset: every available one.",
    )
    disable: tuple[str, ...] = _option(
        (), "LLM_OBSERVATORY_DISABLE", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", parse=_parse_list,
        doc="Instrumentations to leave off.",
    )
    redact: Any = _option(
        None, "LLM_OBSERVATORY_REDACT", parse=_parse_bool,
        doc="Redact PII and secrets from every exported span and log (on by default when content "
        "capture is on). Code: a mapping of RedactionOptions. See docs/privacy.md.",
    )
    sampling: Any = _option(
        None, "LLM_OBSERVATORY_SAMPLING", parse=_parse_ratio,
        doc="Head sampling: a ratio (env or code), or a Sampler or rules mapping (code). "
        "Unset: `OTEL_TRACES_SAMPLER`, else everything. See docs/sampling.md.",
    )
    tail_sampling: Any = _option(
        None, "LLM_OBSERVATORY_TAIL_SAMPLING", parse=_parse_ratio,
        doc="In-process tail sampling: the ratio of ordinary traces kept (errors, slow and expensive "
        "traces are always kept). Code: a mapping of TailSamplingOptions. See docs/sampling.md.",
    )
    stream_usage: bool = _option(
        False, "LLM_OBSERVATORY_STREAM_USAGE", parse=_parse_bool,
        doc="Ask OpenAI streams for exact usage (`stream_options.include_usage`) when the app did not, "
        "and hide the extra usage chunk from the app. Off: such streams get estimated usage.",
    )
    prices: Any = _option(
        None, "LLM_OBSERVATORY_PRICES", parse=str,
        doc="Price overrides: a TOML/JSON/YAML file (env or code), or a mapping/list (code). See docs/cost.md.",
    )
    propagate_threads: bool = _option(
        True, "LLM_OBSERVATORY_PROPAGATE_THREADS", parse=_parse_bool,
        doc="Carry the trace context into threads and `concurrent.futures` executors.",
    )
    baggage: bool = _option(
        False, "LLM_OBSERVATORY_BAGGAGE", parse=_parse_bool,
        doc="Also put session, user and conversation ids in W3C baggage for other services.",
    )

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Options:
        """Resolve every option from ``overrides``, then ``environ``, then the defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in overrides and overrides[f.name] is not None:
                values[f.name] = overrides[f.name]
                continue
            for var in f.metadata["env"]:
                parse = f.metadata["parsers"].get(var, f.metadata["parse"])
                raw = env.get(var)
                if raw is None or (raw.strip() == "" and f.type != "bool"):
                    continue
                try:
                    values[f.name] = parse(raw)
                except ValueError as exc:
                    logger.warning("LLM Observatory: ignoring %s=%r: %s; using the default", var, raw, exc)
                break
        return cls(**values)

    @classmethod
    def describe(cls) -> list[tuple[str, tuple[str, ...], Any, str]]:
        """``(name, env vars, default, description)`` for every option; used to write the docs."""
        return [(f.name, f.metadata["env"], f.default, f.metadata["doc"]) for f in dataclasses.fields(cls)]


def exporter_names(value: str | Sequence[Any] | Any) -> tuple[Any, ...]:
    """Normalise the ``exporter=`` argument of ``init()`` into a tuple of names or instances."""
    if isinstance(value, str):
        return _parse_exporters(value)
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)
