"""Collector benchmarks: ingest rate (OTLP/HTTP protobuf, 1000-span GenAI requests, stored) and
acknowledgement latency at a steady 5,000 spans/s, on DuckDB and, when reachable, PostgreSQL."""

from __future__ import annotations

import http.client
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _requests(count: int, spans: int) -> list[bytes]:
    from tests.collector.conftest import genai_request
    return [genai_request(spans).SerializeToString() for _ in range(count)]


def _post(conn: http.client.HTTPConnection, body: bytes) -> float:
    t0 = time.perf_counter()
    conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"collector answered {response.status}")
    return time.perf_counter() - t0


def ingest(postgres_dsn: str | None = None, requests: int = 40, spans: int = 1000) -> dict[str, Any]:
    if postgres_dsn is None:
        return _ingest(None, requests, spans)
    import uuid

    import psycopg
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    try:
        sep = "&" if "?" in postgres_dsn else "?"
        return _ingest(f"{postgres_dsn}{sep}options=-csearch_path%3D{schema}", requests, spans)
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as con:
            con.execute(f"DROP SCHEMA {schema} CASCADE")


def _ingest(postgres_dsn: str | None, requests: int, spans: int) -> dict[str, Any]:
    from llm_observatory.collector import Collector, CollectorConfig

    bodies = _requests(requests + 5, spans)
    with tempfile.TemporaryDirectory() as tmp:
        config = CollectorConfig(http_port=0, grpc_port=-1, db_path=str(Path(tmp) / "b.duckdb"),
                                 spool_dir=str(Path(tmp) / "spool"), postgres_dsn=postgres_dsn, token=None)
        with Collector(config) as c:
            conn = http.client.HTTPConnection("127.0.0.1", c.http_port, timeout=60)
            for body in bodies[:5]:  # warm-up
                _post(conn, body)
            c.pipeline.flush(60)
            cpu0, t0 = time.process_time(), time.perf_counter()
            for body in bodies[5:]:
                _post(conn, body)
            c.pipeline.flush(120)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            stored = c.store.query("SELECT count(*) FROM spans")[1][0][0]
            # Steady load: 5 requests of 1000 spans a second, for 6 seconds.
            fresh = _requests(30, spans)
            latencies = []
            start = time.perf_counter()
            for i, body in enumerate(fresh):
                target = start + i * 0.2
                delay = target - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                latencies.append(_post(conn, body))
            conn.close()
    total = requests * spans
    assert stored == total + 5 * spans, stored
    latencies.sort()
    return {"spans_per_s": total / wall, "spans_per_cpu_s": total / cpu, "wall_s": wall,
            "ack_p50_ms": statistics.median(latencies) * 1e3,
            "ack_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3}
