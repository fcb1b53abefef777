"""OTLP/gRPC on one port for traces, metrics and logs. Requests arrive as raw bytes (no second
parse); the same pipeline as OTLP/HTTP decodes, spools and acknowledges them."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import grpc

from ._otlp import DecodeError
from ._pipeline import Overloaded, ShuttingDown

if TYPE_CHECKING:
    from ._collector import Collector

logger = logging.getLogger("llm_observatory.collector")

_SERVICES = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}


_RETRY_INFO_KEY = "google.rpc.retryinfo-bin"


def _retry_info(seconds: int) -> bytes:
    """A ``google.rpc.RetryInfo`` with ``retry_delay`` = ``seconds``, encoded by hand (field 1, a
    ``Duration`` whose field 1 is the seconds), so no extra dependency is needed."""
    duration = b"\x08" + bytes([seconds])
    return b"\x0a" + bytes([len(duration)]) + duration


_RETRY_AFTER_1S = _retry_info(1)


def _identity(data: bytes) -> bytes:
    return data


def serve_grpc(collector: Collector) -> grpc.Server:
    config = collector.config

    def export(signal: str) -> Any:
        def handle(body: bytes, context: grpc.ServicerContext) -> bytes:
            if config.token:
                metadata = dict(context.invocation_metadata())
                if metadata.get("authorization") != f"Bearer {config.token}":
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
            try:
                collector.pipeline.submit(signal, body, False)
            except DecodeError as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except Overloaded:
                # OTLP/gRPC throttling: the exporters wait for the RetryInfo delay, then retry.
                context.set_trailing_metadata(((_RETRY_INFO_KEY, _RETRY_AFTER_1S),))
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "the collector is busy; retry later")
            except ShuttingDown:
                context.abort(grpc.StatusCode.UNAVAILABLE, "the collector is shutting down; retry later")
            except Exception as exc:
                if isinstance(exc, grpc.RpcError) or type(exc).__name__ == "_AbortError":
                    raise
                logger.exception("LLM Observatory collector: internal error on gRPC %s", signal)
                context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}")
            return b""  # an empty Export*ServiceResponse
        return handle

    server = grpc.server(ThreadPoolExecutor(max_workers=8, thread_name_prefix="llm-observatory-grpc"),
                         options=[("grpc.max_receive_message_length", config.max_request_bytes)])
    for signal, service in _SERVICES.items():
        handler = grpc.unary_unary_rpc_method_handler(export(signal), request_deserializer=_identity,
                                                      response_serializer=_identity)
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service, {"Export": handler})])
    server.add_insecure_port(f"{config.host}:{config.grpc_port}")
    return server
