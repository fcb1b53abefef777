"""OTLP decoding: protobuf and JSON give the same rows; malformed input is a clear DecodeError."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_observatory.collector._otlp import SPAN_COLUMNS, DecodeError, accept, decode

from .conftest import genai_request


def otlp_json(message: Any) -> bytes:
    """The OTLP/JSON encoding of a protobuf request: ids as hex, as the OTLP spec requires."""
    doc = json_format.MessageToDict(message)

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("traceId", "spanId", "parentSpanId"):
                if isinstance(node.get(key), str):
                    node[key] = base64.b64decode(node[key]).hex()
            for value in node.values():
                fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)
    fix(doc)
    return json.dumps(doc).encode()


def test_protobuf_and_json_give_the_same_rows() -> None:
    request = genai_request(3, error="openai.RateLimitError")
    from_pb = decode("traces", request.SerializeToString(), False)
    from_json = decode("traces", otlp_json(request), True)
    assert from_pb.spans == from_json.spans and from_pb.llm_metrics == from_json.llm_metrics
    span = dict(zip(SPAN_COLUMNS, from_pb.spans[0], strict=True))
    assert span["trace_id"] == request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    assert span["service_name"] == "svc" and span["status_code"] == 2 and span["duration_ms"] == 5.0
    assert json.loads(span["attributes"])["gen_ai.usage.input_tokens"] == 100
    (row, *_) = from_pb.llm_metrics
    assert row[4] == "gpt-4o-mini" and row[8:11] == (100, 20, 120) and row[16] == "openai.RateLimitError"


def test_json_ids_must_be_hex() -> None:
    body = otlp_json(genai_request(1))
    doc = json.loads(body)
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"] = base64.b64encode(bytes.fromhex(span["traceId"])).decode()  # what a generic encoder writes
    with pytest.raises(DecodeError, match="hex"):
        decode("traces", json.dumps(doc).encode(), True)


def test_framework_spans_that_delegated_are_not_model_calls() -> None:
    from opentelemetry.proto.common.v1 import common_pb2
    request = genai_request(2)
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0].attributes.add(key="llm.inference.delegated_to", value=common_pb2.AnyValue(string_value="openai"))
    batch = decode("traces", request.SerializeToString(), False)
    assert len(batch.spans) == 2 and len(batch.llm_metrics) == 1


@pytest.mark.parametrize(("body", "is_json", "message"), [
    (b"\xff\xff\xff", False, "not a valid OTLP protobuf"),
    (b"{not json", True, "not valid JSON"),
    (b"[]", True, "must be a JSON object"),
    (b'{"resourceSpans": {}}', True, "must be an array"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "00"}]}]}]}', True, "hex"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "' + b"ab" * 16 + b'", "spanId": "' + b"cd" * 8
     + b'", "startTimeUnixNano": "soon"}]}]}]}', True, "integer"),
])
def test_malformed_requests_are_refused_with_a_reason(body: bytes, is_json: bool, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode("traces", body, is_json)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=512), signal=st.sampled_from(["traces", "metrics", "logs"]))
def test_fuzz_protobuf_never_crashes(body: bytes, signal: str) -> None:
    try:
        decode(signal, body, False)
    except DecodeError:
        pass
    try:  # the receivers' path: validated first, rows made later
        accept(signal, body, False).rows()
    except DecodeError:
        pass


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "attributes", "key",
                         "value", "stringValue", "intValue", "arrayValue", "values", "status", "code",
                         "resourceMetrics", "scopeMetrics", "metrics", "sum", "dataPoints", "asInt",
                         "resourceLogs", "scopeLogs", "logRecords", "body", "histogram", "bucketCounts"]),
        children, max_size=5),
    max_leaves=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_json_values, signal=st.sampled_from(["traces", "metrics", "logs"]))
def test_fuzz_json_never_crashes(doc: Any, signal: str) -> None:
    try:
        decode(signal, json.dumps(doc).encode(), True)
    except DecodeError:
        pass
