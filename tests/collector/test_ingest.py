"""OTLP in with the official exporters (HTTP protobuf, gRPC) and raw HTTP (JSON, gzip): everything
sent is stored exactly once; bad requests get clear 4xx answers and never stop the collector."""

from __future__ import annotations

import gzip
import http.client
import json
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from llm_observatory.collector import Collector

from .conftest import genai_request, make_config
from .test_decode import otlp_json


def post(port: int, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/x-protobuf", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data, response.headers


def count(c: Collector, sql: str) -> Any:
    assert c.pipeline.flush(10)
    return c.store.query(sql)[1][0][0]


def _sdk_providers(endpoint: str, grpc: bool) -> tuple[Any, Any, Any]:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    if grpc:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        kwargs: dict[str, Any] = {"endpoint": endpoint, "insecure": True}
        exporters = (OTLPSpanExporter(**kwargs), OTLPMetricExporter(**kwargs), OTLPLogExporter(**kwargs))
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
        exporters = (HttpSpans(endpoint=f"{endpoint}/v1/traces"), HttpMetrics(endpoint=f"{endpoint}/v1/metrics"),
                     HttpLogs(endpoint=f"{endpoint}/v1/logs"))
    resource = Resource({"service.name": "exporter-test"})
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(SimpleSpanProcessor(exporters[0]))
    mp = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(exporters[1],
                                                                                        export_interval_millis=60_000)])
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(SimpleLogRecordProcessor(exporters[2]))
    return tp, mp, lp


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_official_exporters_traces_metrics_logs_stored_once(collector: Collector, transport: str) -> None:
    endpoint = (f"http://127.0.0.1:{collector.http_port}" if transport == "http"
                else f"127.0.0.1:{collector.grpc_port}")
    tp, mp, lp = _sdk_providers(endpoint, grpc=transport == "grpc")
    tracer = tp.get_tracer("t")
    for i in range(20):
        with tracer.start_as_current_span(f"chat m{i % 2}") as span:
            span.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                 "gen_ai.request.model": f"m{i % 2}", "gen_ai.usage.input_tokens": 10,
                                 "gen_ai.usage.output_tokens": 5, "llm.cost.usd": 0.5})
    counter = mp.get_meter("m").create_counter("requests")
    counter.add(3, {"route": "/a"})
    histogram = mp.get_meter("m").create_histogram("latency", unit="s")
    histogram.record(0.25)
    lp.get_logger("l").emit(body="hello", severity_text="INFO", attributes={"k": "v"})
    for provider in (tp, mp, lp):
        provider.shutdown()
    assert count(collector, "SELECT count(*) FROM spans WHERE service_name = 'exporter-test'") == 20
    assert count(collector, "SELECT count(DISTINCT span_id) FROM spans") == 20
    assert count(collector, "SELECT count(*) FROM llm_metrics") == 20
    assert count(collector, "SELECT sum(total_cost_usd) FROM llm_metrics") == pytest.approx(10.0)
    _, points = collector.store.query("SELECT metric_name, metric_type, value, count, sum FROM metric_points "
                                      "ORDER BY metric_name")
    assert [(p[0], p[1]) for p in points] == [("latency", "histogram"), ("requests", "sum")]
    assert points[0][3:] == (1, 0.25) and points[1][2] == 3.0
    _, logs = collector.store.query("SELECT body, severity_text, attributes FROM log_records")
    assert len(logs) == 1 and json.loads(logs[0][0]) == "hello" and json.loads(logs[0][2]) == {"k": "v"}


def test_json_and_gzip_and_retries(collector: Collector) -> None:
    request = genai_request(5)
    port = collector.http_port
    status, body, headers = post(port, "/v1/traces", otlp_json(request), {"Content-Type": "application/json"})
    assert status == 200 and json.loads(body) == {} and headers["Content-Type"] == "application/json"
    assert count(collector, "SELECT count(*) FROM spans") == 5
    # The same request again (an exporter retrying after a lost answer), gzipped: stored once.
    status, body, headers = post(port, "/v1/traces", gzip.compress(request.SerializeToString()),
                                 {"Content-Encoding": "gzip"})
    assert status == 200 and headers["Content-Type"] == "application/x-protobuf"
    trace_service_pb2.ExportTraceServiceResponse.FromString(body)
    assert count(collector, "SELECT count(*) FROM spans") == 5
    assert count(collector, "SELECT count(*) FROM llm_metrics") == 5


@pytest.mark.parametrize(("path", "body", "headers", "status", "message"), [
    ("/v1/traces", b"\x0a\xff\xff", {}, 400, "not a valid OTLP protobuf"),
    ("/v1/traces", b"{", {"Content-Type": "application/json"}, 400, "not valid JSON"),
    ("/v1/traces", b"x", {"Content-Type": "text/plain"}, 415, "Content-Type"),
    ("/v1/traces", b"\x1f\x8b\x08garbage", {"Content-Encoding": "gzip"}, 400, "gzip"),
    ("/v1/traces", b"x", {"Content-Encoding": "br"}, 415, "Content-Encoding"),
    ("/v1/nothing", b"x", {}, 404, "no such endpoint"),
])
def test_bad_requests_get_clear_answers(collector: Collector, path: str, body: bytes, headers: dict[str, str],
                                        status: int, message: str) -> None:
    got, data, _ = post(collector.http_port, path, body, headers)
    assert got == status
    assert message.encode() in data
    # ... and the collector carries on.
    assert post(collector.http_port, "/v1/traces", genai_request(1).SerializeToString())[0] == 200


def test_size_limit_and_auth(tmp_path: Path) -> None:
    with Collector(make_config(tmp_path, max_request_bytes=2000, token="s3cret")) as c:
        body = genai_request(30).SerializeToString()
        assert len(body) > 2000
        assert post(c.http_port, "/v1/traces", body, {"Authorization": "Bearer s3cret"})[0] == 413
        small = genai_request(1).SerializeToString()
        assert post(c.http_port, "/v1/traces", small)[0] == 401
        assert post(c.http_port, "/v1/traces", small, {"Authorization": "Bearer wrong"})[0] == 401
        assert post(c.http_port, "/v1/traces", small, {"Authorization": "Bearer s3cret"})[0] == 200
        # The web UI: the token once in the URL, then a cookie; never without it.
        conn = http.client.HTTPConnection("127.0.0.1", c.http_port, timeout=10)
        conn.request("GET", "/")
        first = conn.getresponse()
        first.read()
        assert first.status == 401
        conn.request("GET", "/?token=s3cret")
        second = conn.getresponse()
        second.read()
        cookie = second.headers["Set-Cookie"]
        assert second.status == 200 and "HttpOnly" in cookie
        conn.request("GET", "/traces", headers={"Cookie": cookie.split(";")[0]})
        third = conn.getresponse()
        third.read()
        assert third.status == 200
        conn.request("GET", "/api/traces", headers={"Cookie": cookie.split(";")[0]})
        api = conn.getresponse()
        api.read()
        assert api.status == 401  # the API takes the bearer header only
        conn.close()
        bomb = gzip.compress(b"\x00" * 100_000)
        assert post(c.http_port, "/v1/traces", bomb, {"Authorization": "Bearer s3cret",
                                                      "Content-Encoding": "gzip"})[0] == 413


def test_overload_answers_429_with_retry_after(tmp_path: Path) -> None:
    c = Collector(make_config(tmp_path, max_pending=10))
    original = c.store.write

    def slow_write(batch: Any) -> None:
        time.sleep(0.5)
        original(batch)
    c.store.write = slow_write  # type: ignore[method-assign]
    with c:
        assert post(c.http_port, "/v1/traces", genai_request(8).SerializeToString())[0] == 200
        status, _, headers = post(c.http_port, "/v1/traces", genai_request(8).SerializeToString())
        assert status == 429 and headers["Retry-After"] == "1"
        assert c.pipeline.flush(10)
        assert post(c.http_port, "/v1/traces", genai_request(8).SerializeToString())[0] == 200
        assert count(c, "SELECT count(*) FROM spans") == 16


def test_grpc_refuses_malformed_requests(collector: Collector) -> None:
    import grpc
    channel = grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}")
    export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                 request_serializer=lambda b: b, response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as raised:
        export(b"\x0a\xff\xff", timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert export(genai_request(2).SerializeToString(), timeout=5) == b""
    assert count(collector, "SELECT count(*) FROM spans") == 2
    channel.close()


def test_shutdown_stores_everything_accepted(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    c = Collector(config).start()
    for _ in range(10):
        assert post(c.http_port, "/v1/traces", genai_request(50).SerializeToString())[0] == 200
    c.stop()
    from llm_observatory.collector import open_store
    store = open_store(db_path=config.db_path)
    assert store.query("SELECT count(*) FROM spans")[1][0][0] == 500
    store.close()


def test_grpc_overload_is_resource_exhausted_with_retry_info(tmp_path: Path) -> None:
    import grpc
    from google.rpc.error_details_pb2 import RetryInfo
    c = Collector(make_config(tmp_path, grpc_port=0, max_pending=10))
    original = c.store.write

    def slow_write(batch: Any) -> None:
        time.sleep(0.5)
        original(batch)
    c.store.write = slow_write  # type: ignore[method-assign]
    with c:
        channel = grpc.insecure_channel(f"127.0.0.1:{c.grpc_port}")
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                     request_serializer=lambda b: b, response_deserializer=lambda b: b)
        assert export(genai_request(8).SerializeToString(), timeout=5) == b""
        with pytest.raises(grpc.RpcError) as raised:
            export(genai_request(8).SerializeToString(), timeout=5)
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        info = RetryInfo()
        info.ParseFromString(dict(raised.value.trailing_metadata())["google.rpc.retryinfo-bin"])
        assert info.retry_delay.seconds == 1
        channel.close()
