"""OTLP requests (protobuf or JSON) → rows for the store, one :class:`Batch` per request.

Decoding validates: a malformed request raises :class:`DecodeError` with a message for the 400
answer, and nothing of it is stored. OTLP/JSON ids are hex strings (not base64, as a generic
protobuf JSON parser would assume) and 64-bit integers may be strings; both are handled here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError as _ProtobufDecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from ._promote import promote

TRACES, METRICS, LOGS = "traces", "metrics", "logs"
SIGNALS = (TRACES, METRICS, LOGS)

SPAN_COLUMNS = ("trace_id", "span_id", "parent_span_id", "name", "kind", "start_ns", "end_ns", "duration_ms",
                "status_code", "status_message", "service_name", "scope_name", "attributes",
                "resource_attributes", "events", "links")
LLM_COLUMNS = ("timestamp_ns", "trace_id", "span_id", "service_name", "model_name", "request_model", "provider",
               "operation", "prompt_tokens", "completion_tokens", "total_tokens", "cache_read_tokens",
               "total_cost_usd", "usage_estimated", "duration_ms", "ttft_ms", "error_code", "user_id",
               "session_id")
METRIC_COLUMNS = ("id", "timestamp_ns", "start_ns", "service_name", "metric_name", "metric_type", "unit",
                  "attributes", "value", "count", "sum", "min", "max", "bucket_counts", "explicit_bounds")
LOG_COLUMNS = ("id", "timestamp_ns", "observed_ns", "service_name", "trace_id", "span_id", "severity_number",
               "severity_text", "event_name", "body", "attributes")
COLUMNS = {"spans": SPAN_COLUMNS, "llm_metrics": LLM_COLUMNS, "metric_points": METRIC_COLUMNS,
           "log_records": LOG_COLUMNS}


class DecodeError(ValueError):
    """The request is not valid OTLP; the message says why (it goes back to the sender)."""


@dataclass
class Batch:
    """Rows decoded from requests, by table; each row a tuple in the table's column order."""

    spans: list[tuple[Any, ...]] = field(default_factory=list)
    llm_metrics: list[tuple[Any, ...]] = field(default_factory=list)
    metric_points: list[tuple[Any, ...]] = field(default_factory=list)
    log_records: list[tuple[Any, ...]] = field(default_factory=list)

    def extend(self, other: Batch) -> None:
        self.spans.extend(other.spans)
        self.llm_metrics.extend(other.llm_metrics)
        self.metric_points.extend(other.metric_points)
        self.log_records.extend(other.log_records)

    def __len__(self) -> int:
        return len(self.spans) + len(self.metric_points) + len(self.log_records)

    def tables(self) -> Iterable[tuple[str, list[tuple[Any, ...]]]]:
        return (("spans", self.spans), ("llm_metrics", self.llm_metrics),
                ("metric_points", self.metric_points), ("log_records", self.log_records))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- protobuf ----------------------------------------------------------------------------------
def _any_value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return v.double_value
    if which == "bool_value":
        return v.bool_value
    if which == "array_value":
        return [_any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode("ascii")
    return None


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in kvs}


def _hex(raw: bytes, size: int, what: str, required: bool = True) -> str | None:
    if not raw:
        if required:
            raise DecodeError(f"{what} is empty")
        return None
    if len(raw) != size:
        raise DecodeError(f"{what} must be {size} bytes, got {len(raw)}")
    return raw.hex()


def _parse(message_cls: Any, body: bytes) -> Any:
    try:
        return message_cls.FromString(body)
    except (_ProtobufDecodeError, ValueError, RuntimeError) as exc:
        raise DecodeError(f"not a valid OTLP protobuf {message_cls.__name__}: {exc}") from None


def traces_from_protobuf(body: bytes, request: Any = None) -> Batch:
    if request is None:
        request = _parse(trace_service_pb2.ExportTraceServiceRequest, body)
    batch = Batch()
    spans, llm = batch.spans, batch.llm_metrics
    for rs in request.resource_spans:
        resource = _attrs(rs.resource.attributes)
        service = str(resource.get("service.name", "unknown_service"))
        resource_json = _dumps(resource)
        for ss in rs.scope_spans:
            scope = ss.scope.name or None
            for s in ss.spans:
                trace_id = s.trace_id.hex()
                span_id = s.span_id.hex()
                if len(trace_id) != 32 or len(span_id) != 16:
                    raise DecodeError(f"trace_id must be 16 bytes and span_id 8, got {len(trace_id) // 2} "
                                      f"and {len(span_id) // 2}")
                attributes = _attrs(s.attributes)
                start, end = s.start_time_unix_nano, s.end_time_unix_nano
                duration_ms = (end - start) / 1e6 if end >= start else 0.0
                events = [{"name": e.name, "time_unix_nano": e.time_unix_nano, "attributes": _attrs(e.attributes)}
                          for e in s.events]
                links = [{"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex(),
                          "attributes": _attrs(link.attributes)} for link in s.links]
                spans.append((trace_id, span_id, _hex(s.parent_span_id, 8, "parent_span_id", False), s.name,
                              s.kind, start, end, duration_ms, s.status.code, s.status.message or None, service,
                              scope, _dumps(attributes), resource_json, _dumps(events), _dumps(links)))
                row = promote(trace_id, span_id, service, start, duration_ms, attributes, resource)
                if row is not None:
                    llm.append(row)
    return batch


def _point_id(digest: bytes, index: int) -> str:
    """Metric points and log records have no id of their own: a retried request (the same bytes)
    gives the same ids, so it is stored once."""
    return f"{digest.hex()}-{index}"


def metrics_from_protobuf(body: bytes, request: Any = None) -> Batch:
    if request is None:
        request = _parse(metrics_service_pb2.ExportMetricsServiceRequest, body)
    digest = hashlib.blake2b(body, digest_size=12).digest()
    batch = Batch()
    points = batch.metric_points
    for rm in request.resource_metrics:
        resource = _attrs(rm.resource.attributes)
        service = str(resource.get("service.name", "unknown_service"))
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                if kind is None:
                    continue
                data = getattr(m, kind)
                for p in data.data_points:
                    attrs = _dumps(_attrs(p.attributes))
                    pid = _point_id(digest, len(points))
                    if kind in ("gauge", "sum"):
                        value = p.as_double if p.WhichOneof("value") == "as_double" else float(p.as_int)
                        points.append((pid, p.time_unix_nano, p.start_time_unix_nano, service, m.name, kind,
                                       m.unit, attrs, value, None, None, None, None, None, None))
                    elif kind == "histogram":
                        points.append((pid, p.time_unix_nano, p.start_time_unix_nano, service, m.name, kind,
                                       m.unit, attrs, None, p.count, p.sum if p.HasField("sum") else None,
                                       p.min if p.HasField("min") else None, p.max if p.HasField("max") else None,
                                       _dumps(list(p.bucket_counts)), _dumps(list(p.explicit_bounds))))
                    else:  # exponential histogram, summary: count and sum
                        points.append((pid, p.time_unix_nano, p.start_time_unix_nano, service, m.name, kind,
                                       m.unit, attrs, None, p.count, p.sum, None, None, None, None))
    return batch


def logs_from_protobuf(body: bytes, request: Any = None) -> Batch:
    if request is None:
        request = _parse(logs_service_pb2.ExportLogsServiceRequest, body)
    digest = hashlib.blake2b(body, digest_size=12).digest()
    batch = Batch()
    records = batch.log_records
    for rl in request.resource_logs:
        resource = _attrs(rl.resource.attributes)
        service = str(resource.get("service.name", "unknown_service"))
        for sl in rl.scope_logs:
            for r in sl.log_records:
                records.append((_point_id(digest, len(records)), r.time_unix_nano or r.observed_time_unix_nano,
                                r.observed_time_unix_nano, service, _hex(r.trace_id, 16, "trace_id", False),
                                _hex(r.span_id, 8, "span_id", False), r.severity_number, r.severity_text or None,
                                r.event_name or None, _dumps(_any_value(r.body)) if r.HasField("body") else None,
                                _dumps(_attrs(r.attributes))))
    return batch


# --- JSON --------------------------------------------------------------------------------------
def _json_any(v: Any) -> Any:
    if not isinstance(v, Mapping):
        raise DecodeError("an AnyValue must be an object")
    if "stringValue" in v:
        return str(v["stringValue"])
    if "intValue" in v:
        return _json_int(v["intValue"], "intValue")
    if "doubleValue" in v:
        value = v["doubleValue"]
        if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
            return float(value)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise DecodeError("doubleValue must be a number")
        return float(value)
    if "boolValue" in v:
        if not isinstance(v["boolValue"], bool):
            raise DecodeError("boolValue must be true or false")
        return v["boolValue"]
    if "arrayValue" in v:
        return [_json_any(x) for x in _json_list(v["arrayValue"].get("values") if isinstance(v["arrayValue"], Mapping)
                                                   else None, "arrayValue.values")]
    if "kvlistValue" in v:
        kv = v["kvlistValue"]
        return _json_attrs(kv.get("values") if isinstance(kv, Mapping) else None)
    if "bytesValue" in v:
        return str(v["bytesValue"])
    return None


def _json_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"{what} must be an array")
    return value


def _json_attrs(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in _json_list(kvs, "attributes"):
        if not isinstance(kv, Mapping) or not isinstance(kv.get("key"), str):
            raise DecodeError("an attribute must be an object with a string key")
        out[kv["key"]] = _json_any(kv.get("value") or {})
    return out


def _json_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise DecodeError(f"{what} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise DecodeError(f"{what} must be an integer (or a decimal string)")


def _json_enum(value: Any, enum: Any, what: str) -> int:
    """An enum as OTLP/JSON requires (an integer), or by its name, as generic encoders write it."""
    if isinstance(value, str) and value and not value.lstrip("-").isdigit():
        try:
            return int(enum.Value(value))
        except ValueError:
            raise DecodeError(f"{what}: unknown value {value[:40]!r}") from None
    return _json_int(value, what)


def _json_hex(value: Any, size: int, what: str, required: bool = True) -> str | None:
    if value in (None, ""):
        if required:
            raise DecodeError(f"{what} is empty")
        return None
    if not isinstance(value, str):
        raise DecodeError(f"{what} must be a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise DecodeError(f"{what} must be hex (OTLP/JSON encodes ids as hex, not base64): {value[:40]!r}") from None
    if len(raw) != size:
        raise DecodeError(f"{what} must be {size} bytes, got {len(raw)}")
    return raw.hex()


def _json_body(body: bytes) -> Mapping[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"not valid JSON: {exc}") from None
    if not isinstance(doc, Mapping):
        raise DecodeError("an OTLP/JSON request must be a JSON object")
    return doc


def _objects(parent: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = _json_list(parent.get(key), key)
    for item in items:
        if not isinstance(item, Mapping):
            raise DecodeError(f"{key} must hold objects")
    return items


def _resource(container: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    res = container.get("resource") or {}
    if not isinstance(res, Mapping):
        raise DecodeError("resource must be an object")
    resource = _json_attrs(res.get("attributes"))
    return resource, str(resource.get("service.name", "unknown_service"))


def traces_from_json(body: bytes) -> Batch:
    doc = _json_body(body)
    batch = Batch()
    for rs in _objects(doc, "resourceSpans"):
        resource, service = _resource(rs)
        resource_json = _dumps(resource)
        for ss in _objects(rs, "scopeSpans"):
            scope_obj = ss.get("scope") or {}
            scope = scope_obj.get("name") if isinstance(scope_obj, Mapping) else None
            for s in _objects(ss, "spans"):
                trace_id = _json_hex(s.get("traceId"), 16, "traceId")
                span_id = _json_hex(s.get("spanId"), 8, "spanId")
                assert trace_id is not None and span_id is not None
                attributes = _json_attrs(s.get("attributes"))
                start = _json_int(s.get("startTimeUnixNano", 0), "startTimeUnixNano")
                end = _json_int(s.get("endTimeUnixNano", 0), "endTimeUnixNano")
                duration_ms = (end - start) / 1e6 if end >= start else 0.0
                status = s.get("status") or {}
                if not isinstance(status, Mapping):
                    raise DecodeError("status must be an object")
                events = [{"name": str(e.get("name", "")),
                           "time_unix_nano": _json_int(e.get("timeUnixNano", 0), "timeUnixNano"),
                           "attributes": _json_attrs(e.get("attributes"))} for e in _objects(s, "events")]
                links = [{"trace_id": _json_hex(link.get("traceId"), 16, "links.traceId"),
                          "span_id": _json_hex(link.get("spanId"), 8, "links.spanId"),
                          "attributes": _json_attrs(link.get("attributes"))} for link in _objects(s, "links")]
                kind = _json_enum(s.get("kind", 0), trace_pb2.Span.SpanKind, "kind")
                batch.spans.append((trace_id, span_id, _json_hex(s.get("parentSpanId"), 8, "parentSpanId", False),
                                    str(s.get("name", "")), kind, start, end, duration_ms,
                                    _json_enum(status.get("code", 0), trace_pb2.Status.StatusCode, "status.code"),
                                    status.get("message") or None,
                                    service, scope, _dumps(attributes), resource_json, _dumps(events),
                                    _dumps(links)))
                row = promote(trace_id, span_id, service, start, duration_ms, attributes, resource)
                if row is not None:
                    batch.llm_metrics.append(row)
    return batch


def _json_number(p: Mapping[str, Any]) -> float | None:
    if "asDouble" in p:
        value = p["asDouble"]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise DecodeError("asDouble must be a number")
        return float(value)
    if "asInt" in p:
        return float(_json_int(p["asInt"], "asInt"))
    return None


def _json_float(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DecodeError(f"{what} must be a number")
    return float(value)


def metrics_from_json(body: bytes) -> Batch:
    doc = _json_body(body)
    digest = hashlib.blake2b(body, digest_size=12).digest()
    batch = Batch()
    points = batch.metric_points
    for rm in _objects(doc, "resourceMetrics"):
        _, service = _resource(rm)
        for sm in _objects(rm, "scopeMetrics"):
            for m in _objects(sm, "metrics"):
                name, unit = str(m.get("name", "")), str(m.get("unit", ""))
                for kind in ("gauge", "sum", "histogram", "exponentialHistogram", "summary"):
                    data = m.get(kind)
                    if data is None:
                        continue
                    if not isinstance(data, Mapping):
                        raise DecodeError(f"{kind} must be an object")
                    stored_kind = "exponential_histogram" if kind == "exponentialHistogram" else kind
                    for p in _objects(data, "dataPoints"):
                        pid = _point_id(digest, len(points))
                        t = _json_int(p.get("timeUnixNano", 0), "timeUnixNano")
                        t0 = _json_int(p.get("startTimeUnixNano", 0), "startTimeUnixNano")
                        attrs = _dumps(_json_attrs(p.get("attributes")))
                        if kind in ("gauge", "sum"):
                            points.append((pid, t, t0, service, name, stored_kind, unit, attrs, _json_number(p),
                                           None, None, None, None, None, None))
                        else:
                            count = _json_int(p.get("count", 0), "count")
                            buckets = [_json_int(c, "bucketCounts") for c in _json_list(p.get("bucketCounts"),
                                                                                        "bucketCounts")]
                            bounds = [_json_float(b, "explicitBounds") for b in _json_list(p.get("explicitBounds"),
                                                                                           "explicitBounds")]
                            points.append((pid, t, t0, service, name, stored_kind, unit, attrs, None, count,
                                           _json_float(p.get("sum"), "sum"), _json_float(p.get("min"), "min"),
                                           _json_float(p.get("max"), "max"),
                                           _dumps(buckets) if kind == "histogram" else None,
                                           _dumps(bounds) if kind == "histogram" else None))
    return batch


def logs_from_json(body: bytes) -> Batch:
    doc = _json_body(body)
    digest = hashlib.blake2b(body, digest_size=12).digest()
    batch = Batch()
    records = batch.log_records
    for rl in _objects(doc, "resourceLogs"):
        _, service = _resource(rl)
        for sl in _objects(rl, "scopeLogs"):
            for r in _objects(sl, "logRecords"):
                observed = _json_int(r.get("observedTimeUnixNano", 0), "observedTimeUnixNano")
                body_value = r.get("body")
                records.append((_point_id(digest, len(records)),
                                _json_int(r.get("timeUnixNano", 0), "timeUnixNano") or observed, observed, service,
                                _json_hex(r.get("traceId"), 16, "traceId", False),
                                _json_hex(r.get("spanId"), 8, "spanId", False),
                                _json_enum(r.get("severityNumber", 0), logs_pb2.SeverityNumber, "severityNumber"),
                                r.get("severityText") or None, r.get("eventName") or None,
                                _dumps(_json_any(body_value)) if body_value is not None else None,
                                _dumps(_json_attrs(r.get("attributes")))))
    return batch


DECODERS = {
    (TRACES, False): traces_from_protobuf, (TRACES, True): traces_from_json,
    (METRICS, False): metrics_from_protobuf, (METRICS, True): metrics_from_json,
    (LOGS, False): logs_from_protobuf, (LOGS, True): logs_from_json,
}


_MESSAGES: dict[str, Any] = {TRACES: trace_service_pb2.ExportTraceServiceRequest,
                             METRICS: metrics_service_pb2.ExportMetricsServiceRequest,
                             LOGS: logs_service_pb2.ExportLogsServiceRequest}


@dataclass
class Accepted:
    """A request that passed validation: what the acknowledgement waits for. Rows are made later,
    off the request path (:meth:`rows`), except for JSON, which is decoded whole to be validated."""

    signal: str
    body: bytes
    is_json: bool
    items: int
    message: Any = None
    batch: Batch | None = None

    def rows(self) -> Batch:
        if self.batch is not None:
            return self.batch
        return DECODERS[(self.signal, False)](self.body, self.message)  # type: ignore[call-arg]


def _check_ids(raw: bytes, size: int, what: str, required: bool) -> None:
    if len(raw) != size and (required or raw):
        raise DecodeError(f"{what} must be {size} bytes, got {len(raw)}")


def accept(signal: str, body: bytes, is_json: bool) -> Accepted:
    """Validate one OTLP export request, cheaply for protobuf: the wire format and the ids."""
    if is_json:
        batch = decode(signal, body, True)
        return Accepted(signal, body, True, len(batch), batch=batch)
    request = _parse(_MESSAGES[signal], body)
    items = 0
    if signal == TRACES:
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    _check_ids(span.trace_id, 16, "trace_id", True)
                    _check_ids(span.span_id, 8, "span_id", True)
                    _check_ids(span.parent_span_id, 8, "parent_span_id", False)
                items += len(ss.spans)
    elif signal == METRICS:
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    items += len(getattr(metric, kind).data_points) if kind else 0
    else:
        for rl in request.resource_logs:
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    _check_ids(record.trace_id, 16, "trace_id", False)
                    _check_ids(record.span_id, 8, "span_id", False)
                items += len(sl.log_records)
    return Accepted(signal, body, False, items, message=request)


def decode(signal: str, body: bytes, is_json: bool) -> Batch:
    """Decode one OTLP export request; raises :class:`DecodeError` when it is not valid."""
    try:
        return DECODERS[(signal, is_json)](body)
    except DecodeError:
        raise
    except RecursionError:
        raise DecodeError("the request nests too deeply") from None
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:
        raise DecodeError(f"malformed OTLP {signal} request: {type(exc).__name__}: {exc}") from None
