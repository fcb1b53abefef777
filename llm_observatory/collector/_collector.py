"""The collector: receivers, the pipeline, the spool and the store, started and stopped together."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._pipeline import Pipeline
from ._spool import Spool
from .store import Store, open_store

logger = logging.getLogger("llm_observatory.collector")


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"LLM_OBSERVATORY_COLLECTOR_{name}", default)


@dataclass
class CollectorConfig:
    """Every setting has an environment variable: ``LLM_OBSERVATORY_COLLECTOR_<NAME>``."""

    #: Address to listen on; 127.0.0.1 unless you mean to accept data from other machines.
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1") or "127.0.0.1")
    #: OTLP/HTTP and the query API (0: pick a free port).
    http_port: int = field(default_factory=lambda: int(_env("HTTP_PORT", "4318") or 4318))
    #: OTLP/gRPC (0: pick a free port; -1: no gRPC).
    grpc_port: int = field(default_factory=lambda: int(_env("GRPC_PORT", "4317") or 4317))
    #: The DuckDB file (the default store).
    db_path: str = field(default_factory=lambda: _env("DB", "llm-observatory.duckdb") or "llm-observatory.duckdb")
    #: A PostgreSQL DSN: store there instead of DuckDB.
    postgres_dsn: str | None = field(default_factory=lambda: _env("POSTGRES_DSN"))
    #: Where acknowledged requests wait until stored (default: next to the DuckDB file, or ./spool).
    spool_dir: str | None = field(default_factory=lambda: _env("SPOOL_DIR"))
    #: Require ``Authorization: Bearer <token>`` on every request.
    token: str | None = field(default_factory=lambda: _env("TOKEN"))
    #: Largest accepted request body (compressed), in bytes.
    max_request_bytes: int = field(default_factory=lambda: int(_env("MAX_REQUEST_BYTES", str(16 << 20)) or 0))
    #: Spans, points and log records waiting to be stored before requests are refused (429).
    max_pending: int = field(default_factory=lambda: int(_env("MAX_PENDING", "200000") or 0))

    def spool_path(self) -> Path:
        if self.spool_dir:
            return Path(self.spool_dir)
        if self.postgres_dsn:
            return Path("llm-observatory-spool")
        return Path(str(self.db_path) + ".spool")


class Collector:
    """``start()`` listens; ``stop()`` refuses new data, stores what was accepted, and closes."""

    def __init__(self, config: CollectorConfig | None = None, store: Store | None = None) -> None:
        self.config = config or CollectorConfig()
        self.store = store or open_store(db_path=self.config.db_path, postgres_dsn=self.config.postgres_dsn)
        self.spool = Spool(self.config.spool_path())
        self.pipeline = Pipeline(self.store, self.spool, max_pending=self.config.max_pending)
        self._http: Any = None
        self._grpc: Any = None
        self._http_thread: threading.Thread | None = None

    @property
    def http_port(self) -> int:
        return int(self._http.server_address[1]) if self._http is not None else self.config.http_port

    @property
    def grpc_port(self) -> int:
        return self._grpc_port

    def start(self) -> Collector:
        from ._http import serve_http

        self.pipeline.start()  # replays the spool first
        self._http = serve_http(self)
        self._http_thread = threading.Thread(target=self._http.serve_forever, name="llm-observatory-collector-http",
                                             daemon=True)
        self._http_thread.start()
        self._grpc_port = -1
        if self.config.grpc_port >= 0:
            from ._grpc import serve_grpc

            if self.config.grpc_port == 0:
                import socket
                with socket.socket() as sock:
                    sock.bind((self.config.host, 0))
                    self.config.grpc_port = sock.getsockname()[1]
            self._grpc = serve_grpc(self)
            self._grpc.start()
            self._grpc_port = self.config.grpc_port
        return self

    def describe(self) -> str:
        where = (f"PostgreSQL ({self.config.postgres_dsn.split('@')[-1]})" if self.config.postgres_dsn
                 else f"DuckDB {Path(self.config.db_path).resolve()}")
        grpc_part = f", OTLP/gRPC on {self.config.host}:{self._grpc_port}" if self._grpc_port >= 0 else ""
        auth = "bearer token required" if self.config.token else "no auth"
        return (f"LLM Observatory collector: OTLP/HTTP and query API on http://{self.config.host}:{self.http_port}"
                f"{grpc_part}; storing traces, metrics and logs in {where}; spool {self.spool.dir}; {auth}")

    def stop(self, timeout: float = 30.0) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=2).wait(5)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        self.pipeline.stop(timeout)
        self.store.close()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
