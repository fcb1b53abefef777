"""Collector fixtures: a collector on free ports over DuckDB or a real PostgreSQL, and OTLP builders.

PostgreSQL: the server at 127.0.0.1:5432 (database ``test``) when there is one (CI machines start
it); otherwise a throw-away cluster under a temporary directory when the PostgreSQL server binaries
are installed; otherwise the PostgreSQL tests are skipped, saying why.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from llm_observatory.collector import Collector, CollectorConfig

DEFAULT_DSN = os.environ.get("LLM_OBSERVATORY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _reachable(dsn: str) -> bool:
    try:
        import psycopg
        with psycopg.connect(dsn, connect_timeout=2):
            return True
    except Exception:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A DSN of a running PostgreSQL server (started here when the machine runs none)."""
    pytest.importorskip("psycopg")
    if _reachable(DEFAULT_DSN):
        yield DEFAULT_DSN
        return
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or ([shutil.which("initdb")]
                                                                         if shutil.which("initdb") else [])
    if not binaries:
        pytest.skip(f"no PostgreSQL at {DEFAULT_DSN} and no PostgreSQL server installed to start one "
                    "(apt install postgresql, or set LLM_OBSERVATORY_TEST_POSTGRES)")
    bindir = Path(binaries[-1]).parent
    data = tempfile.mkdtemp(prefix="llmobs-pg-")
    port = _free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as an unprivileged user
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(data, "postgres")
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", data, "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", data, "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
                    "-w", "start"], check=True, capture_output=True)
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        yield dsn
    finally:
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A DSN whose tables live in a schema of their own, dropped after the test."""
    import psycopg
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in postgres_server else "?"
    yield f"{postgres_server}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(f"DROP SCHEMA {schema} CASCADE")


def make_config(tmp_path: Path, **kwargs: Any) -> CollectorConfig:
    kwargs.setdefault("http_port", 0)
    kwargs.setdefault("grpc_port", -1)
    kwargs.setdefault("db_path", str(tmp_path / "store.duckdb"))
    kwargs.setdefault("spool_dir", str(tmp_path / "spool"))
    kwargs.setdefault("token", None)
    kwargs.setdefault("postgres_dsn", None)
    return CollectorConfig(**kwargs)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(make_config(tmp_path, grpc_port=0)).start()
    yield c
    c.stop()


def _str(value: str) -> common_pb2.AnyValue:
    return common_pb2.AnyValue(string_value=value)


def genai_request(n: int, *, service: str = "svc", model: str = "gpt-4o-mini", start_ns: int | None = None,
                  error: str | None = None, cost: float = 0.001, user: str | None = "u1",
                  duration_ns: int = 5_000_000) -> trace_service_pb2.ExportTraceServiceRequest:
    """An OTLP request of ``n`` chat spans with GenAI attributes, each in its own trace."""
    req = trace_service_pb2.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=_str(service))
    ss = rs.scope_spans.add()
    ss.scope.name = "llm_observatory"
    t0 = start_ns if start_ns is not None else time.time_ns() - 60_000_000_000
    for i in range(n):
        s = ss.spans.add(trace_id=os.urandom(16), span_id=os.urandom(8), name=f"chat {model}", kind=3,
                         start_time_unix_nano=t0 + i * 1000, end_time_unix_nano=t0 + i * 1000 + duration_ns)
        for key, value in (("gen_ai.operation.name", "chat"), ("gen_ai.provider.name", "openai"),
                           ("gen_ai.request.model", model), ("gen_ai.response.model", model)):
            s.attributes.add(key=key, value=_str(value))
        for key, number in (("gen_ai.usage.input_tokens", 100), ("gen_ai.usage.output_tokens", 20)):
            s.attributes.add(key=key, value=common_pb2.AnyValue(int_value=number))
        s.attributes.add(key="llm.cost.usd", value=common_pb2.AnyValue(double_value=cost))
        if user:
            s.attributes.add(key="user.id", value=_str(user))
        if error:
            s.attributes.add(key="error.type", value=_str(error))
            s.status.code = 2
    return req
