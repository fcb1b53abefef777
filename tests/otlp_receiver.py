"""A minimal OTLP/HTTP receiver for tests: decodes protobuf requests and keeps them in memory."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_TYPES: dict[str, Any] = {
    "/v1/traces": ExportTraceServiceRequest,
    "/v1/metrics": ExportMetricsServiceRequest,
    "/v1/logs": ExportLogsServiceRequest,
}


class Received:
    def __init__(self) -> None:
        self.requests: dict[str, list[Any]] = {path: [] for path in _TYPES}
        self.lock = threading.Lock()
        self.event = threading.Event()

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) for every span received."""
        out = []
        with self.lock:
            for req in self.requests["/v1/traces"]:
                for rs in req.resource_spans:
                    resource = {kv.key: kv.value.string_value for kv in rs.resource.attributes}
                    for ss in rs.scope_spans:
                        out.extend((resource, span) for span in ss.spans)
        return out

    def metric_names(self) -> set[str]:
        with self.lock:
            return {m.name for req in self.requests["/v1/metrics"] for rm in req.resource_metrics
                    for sm in rm.scope_metrics for m in sm.metrics}


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, Received]]:
    """Yields (base URL, received) for a receiver on a free loopback port."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            kind = _TYPES.get(self.path)
            if kind is None:
                self.send_response(404)
                self.end_headers()
                return
            message = kind()
            message.ParseFromString(body)
            with received.lock:
                received.requests[self.path].append(message)
            received.event.set()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
