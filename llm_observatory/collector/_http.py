"""OTLP/HTTP (``POST /v1/traces|metrics|logs``, protobuf or JSON, gzip or not) and the query API
(``GET /api/...``, ``/openapi.json``, ``/healthz``) on one port."""

from __future__ import annotations

import hmac
import json
import logging
import zlib
from html import escape
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from . import _api, _ui
from ._otlp import DecodeError
from ._pipeline import Overloaded, ShuttingDown

if TYPE_CHECKING:
    from ._collector import Collector

logger = logging.getLogger("llm_observatory.collector")

_COOKIE = "llm_observatory_token"
#: Pages load nothing but themselves: no script at all, inline styles, and the empty inline icon.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'"
_SIGNAL_PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}
_EMPTY_RESPONSES = {
    "traces": trace_service_pb2.ExportTraceServiceResponse().SerializeToString(),
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString(),
    "logs": logs_service_pb2.ExportLogsServiceResponse().SerializeToString(),
}


def _status_protobuf(code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` (code 1, message 2) encoded by hand: OTLP/HTTP error bodies."""
    data = message.encode("utf-8")[:4096]
    out = bytearray(b"\x08")
    value = code
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            break
    out.append(0x12)
    length = len(data)
    while True:
        byte, length = length & 0x7F, length >> 7
        out.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes(out) + data


def _gunzip(body: bytes, limit: int) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise DecodeError(f"the body is not valid gzip: {exc}") from None
    if len(out) > limit or decompressor.unconsumed_tail:
        raise _TooLarge(f"the decompressed body exceeds {limit} bytes")
    if not decompressor.eof:
        raise DecodeError("the gzip body is truncated")
    return out


class _TooLarge(Exception):
    pass


def make_handler(collector: Collector) -> type[BaseHTTPRequestHandler]:
    config = collector.config

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "llm-observatory-collector"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s %s", self.address_string(), format % args)

        # --- answers ---------------------------------------------------------------------------
        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(payload, default=str).encode(), "application/json", headers)

        def _otlp_error(self, status: int, message: str, is_json: bool, headers: dict[str, str] | None = None,
                        code: int = 3) -> None:
            if is_json:
                self._json(status, {"code": code, "message": message}, headers)
            else:
                self._send(status, _status_protobuf(code, message), "application/x-protobuf", headers)

        def _authorized(self) -> bool:
            if not config.token:
                return True
            return hmac.compare_digest(self.headers.get("Authorization", ""), f"Bearer {config.token}")

        def _page_authorized(self, params: dict[str, str]) -> bool | str:
            """A browser cannot send a bearer header: the UI also takes the token once in the URL
            (``/?token=…``) and then from a cookie. Returns the cookie to set, if any."""
            if self._authorized():
                return True
            assert config.token is not None
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            held = cookie.get(_COOKIE)
            if held is not None and hmac.compare_digest(held.value, config.token):
                return True
            if hmac.compare_digest(params.pop("token", ""), config.token):
                return f"{_COOKIE}={config.token}; HttpOnly; SameSite=Strict; Path=/"
            return False

        # --- OTLP ------------------------------------------------------------------------------
        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            signal = _SIGNAL_PATHS.get(path)
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            is_json = content_type == "application/json"
            if signal is None:
                self._drain()
                if _is_api_path(path):
                    self._json(405, {"error": f"{self.command} is not allowed on {path}"}, {"Allow": "GET, HEAD"})
                else:
                    self._json(404, {"error": f"no such endpoint: POST {path}"})
                return
            if not self._authorized():
                self._drain()
                self._otlp_error(401, "missing or wrong bearer token", is_json, {"WWW-Authenticate": "Bearer"},
                                 code=16)
                return
            if content_type not in ("application/x-protobuf", "application/json"):
                self._drain()
                self._otlp_error(415, "Content-Type must be application/x-protobuf or application/json", False)
                return
            length_header = self.headers.get("Content-Length")
            if length_header is None:
                self.close_connection = True
                self._otlp_error(411, "Content-Length is required", is_json)
                return
            try:
                length = int(length_header)
                if length < 0:
                    raise ValueError
            except ValueError:
                self.close_connection = True
                self._otlp_error(400, "invalid Content-Length", is_json)
                return
            if length > config.max_request_bytes:
                self.close_connection = True
                self._otlp_error(413, f"the request exceeds {config.max_request_bytes} bytes", is_json)
                return
            body = self.rfile.read(length)
            try:
                encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
                if encoding == "gzip":
                    body = _gunzip(body, config.max_request_bytes * 4)
                elif encoding not in ("identity", ""):
                    self._otlp_error(415, f"unsupported Content-Encoding: {encoding}", is_json)
                    return
                collector.pipeline.submit(signal, body, is_json)
            except DecodeError as exc:
                self._otlp_error(400, str(exc), is_json)
                return
            except _TooLarge as exc:
                self._otlp_error(413, str(exc), is_json)
                return
            except Overloaded:
                self._otlp_error(429, "the collector is busy; retry later", is_json, {"Retry-After": "1"}, code=8)
                return
            except ShuttingDown:
                self._otlp_error(503, "the collector is shutting down; retry later", is_json,
                                 {"Retry-After": "5"}, code=14)
                return
            except Exception as exc:  # never let one request take the collector down
                logger.exception("LLM Observatory collector: internal error on %s", path)
                self._otlp_error(500, f"internal error: {type(exc).__name__}", is_json, code=13)
                return
            if is_json:
                self._send(200, b"{}", "application/json")
            else:
                self._send(200, _EMPTY_RESPONSES[signal], "application/x-protobuf")

        def _drain(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if 0 < length <= config.max_request_bytes:
                self.rfile.read(length)
            else:
                self.close_connection = True

        # --- query API -------------------------------------------------------------------------
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/") or "/"
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            if path in _SIGNAL_PATHS:
                self._json(405, {"error": f"{self.command} is not allowed on {path}"}, {"Allow": "POST"})
                return
            if path == "/healthz":
                self._json(200, {"status": "ok", "store": collector.store.backend,
                                 "pending": collector.pipeline.pending, **collector.pipeline.stats})
                return
            if path == "/openapi.json":
                self._json(200, _api.OPENAPI)
                return
            if not path.startswith("/api/"):
                allowed = self._page_authorized(params)
                if not allowed:
                    self._send(401, b"<!doctype html><title>Token required</title><p>This collector requires its "
                                    b"token: open <code>/?token=&lt;token&gt;</code> once.</p>",
                               "text/html; charset=utf-8")
                    return
                self._page(path, params, allowed if isinstance(allowed, str) else None)
                return
            if not self._authorized():
                self._json(401, {"error": "missing or wrong bearer token"}, {"WWW-Authenticate": "Bearer"})
                return
            try:
                if path == "/api/traces":
                    self._json(200, _api.traces(collector.store, params))
                elif path.startswith("/api/traces/"):
                    found = _api.trace(collector.store, path.rsplit("/", 1)[1])
                    if found is None:
                        self._json(404, {"error": "no such trace"})
                    else:
                        self._json(200, found)
                elif path == "/api/usage":
                    self._json(200, _api.usage(collector.store, params))
                elif path == "/api/latency":
                    self._json(200, _api.latency(collector.store, params))
                elif path == "/api/errors":
                    self._json(200, _api.errors(collector.store, params))
                elif path == "/api/overview":
                    self._json(200, _api.overview(collector.store, params))
                elif path == "/api/expensive":
                    self._json(200, _api.expensive(collector.store, params))
                elif path == "/api/sessions":
                    self._json(200, _api.sessions(collector.store, params))
                elif path.startswith("/api/sessions/"):
                    self._json(200, _api.session(collector.store, unquote(path.split("/api/sessions/", 1)[1])))
                else:
                    self._json(404, {"error": f"no such endpoint: GET {path}"})
            except _api.BadRequest as exc:
                self._json(400, {"error": str(exc)})
            except Exception as exc:
                logger.exception("LLM Observatory collector: query failed on %s", path)
                self._json(500, {"error": f"internal error: {type(exc).__name__}"})

        do_HEAD = do_GET

        def _page(self, path: str, params: dict[str, str], set_cookie: str | None = None) -> None:
            """The web UI: server-rendered HTML."""
            store = collector.store
            params = {k: v for k, v in params.items() if v != ""}  # a form's empty fields: no filter
            try:
                if path == "/":
                    html = _ui.overview(store, params)
                elif path == "/traces":
                    html = _ui.traces(store, params)
                elif path.startswith("/traces/"):
                    found = _ui.trace(store, path.rsplit("/", 1)[1])
                    if found is None:
                        self._send(404, b"<!doctype html><title>Not found</title><p>No such trace.</p>",
                                   "text/html; charset=utf-8")
                        return
                    html = found
                elif path == "/cost":
                    html = _ui.cost(store, params)
                elif path == "/errors":
                    html = _ui.errors(store, params)
                elif path == "/sessions":
                    html = _ui.sessions(store, params)
                elif path.startswith("/sessions/"):
                    html = _ui.session(store, unquote(path.split("/sessions/", 1)[1]))
                else:
                    self._send(404, b"<!doctype html><title>Not found</title><p>No such page.</p>",
                               "text/html; charset=utf-8")
                    return
            except _api.BadRequest as exc:
                body = f"<!doctype html><title>Bad request</title><p>{escape(str(exc))}</p>".encode()
                self._send(400, body, "text/html; charset=utf-8")
                return
            except Exception as exc:
                logger.exception("LLM Observatory collector: page failed on %s", path)
                self._send(500, f"<!doctype html><p>internal error: {type(exc).__name__}</p>".encode(),
                           "text/html; charset=utf-8")
                return
            headers = {"Content-Security-Policy": _CSP}
            if set_cookie:
                headers["Set-Cookie"] = set_cookie
            self._send(200, html.encode("utf-8"), "text/html; charset=utf-8", headers)

        def _not_allowed(self) -> None:
            self._drain()
            path = urlsplit(self.path).path
            allow = "POST" if path in _SIGNAL_PATHS else "GET, HEAD"
            self._json(405, {"error": f"{self.command} is not allowed on {path}"}, {"Allow": allow})

        def __getattr__(self, name: str) -> Any:
            if name.startswith("do_"):  # any other method: 405, not the stdlib's 501
                return self._not_allowed
            raise AttributeError(name)

    return Handler


def _is_api_path(path: str) -> bool:
    return path.startswith("/api/") or path in ("/healthz", "/openapi.json")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def serve_http(collector: Collector) -> Server:
    server = Server((collector.config.host, collector.config.http_port), make_handler(collector))
    return server

