"""The seed's queries, verbatim, on DuckDB and PostgreSQL with the same answers; the query API on both."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from llm_observatory.collector import Collector
from llm_observatory.collector._api import OPENAPI
from llm_observatory.collector._otlp import Batch, decode
from llm_observatory.collector._seed import COST_BY_SERVICE_AND_MODEL, LATENCY_BY_MODEL, MODEL_COMPARISON
from llm_observatory.collector.store import open_store

from .conftest import genai_request, make_config

HOUR = 3600 * 10**9


def dataset() -> Batch:
    """Model calls over the last week: two services, four models, some errors, varied latencies."""
    now = time.time_ns()
    batch = Batch()
    plan = [  # (service, model, hours ago, calls, duration ms, cost, error)
        ("rag-service", "gpt-4-turbo", 1, 5, 1200, 0.015, None),
        ("rag-service", "gpt-4-turbo", 2, 3, 1800, 0.02, "openai.RateLimitError"),
        ("chat-api", "claude-3-opus-20240229", 3, 4, 900, 0.03, None),
        ("chat-api", "gpt-4o-mini", 5, 6, 300, 0.0004, None),
        ("summarizer", "claude-3-opus-20240229", 50, 2, 2500, 0.05, "anthropic.APITimeoutError"),
        ("summarizer", "gpt-4-turbo", 100, 2, 700, 0.01, None),
        ("old-service", "gpt-4-turbo", 24 * 9, 3, 100, 1.0, None),  # outside both windows
    ]
    for service, model, hours, calls, ms, cost, error in plan:
        request = genai_request(calls, service=service, model=model, start_ns=now - hours * HOUR, error=error,
                                cost=cost, duration_ns=ms * 1_000_000, user=f"user-{len(service)}")
        batch.extend(decode("traces", request.SerializeToString(), False))
    return batch


def normalise(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    def value(v: Any) -> Any:
        if isinstance(v, Decimal):
            v = float(v)
        if isinstance(v, float):
            return round(v, 6)
        return v
    return sorted(tuple(value(v) for v in row) for row in rows)


@pytest.fixture
def stores(tmp_path: Path, postgres_dsn: str) -> Any:
    duck = open_store(db_path=str(tmp_path / "seed.duckdb"))
    pg = open_store(postgres_dsn=postgres_dsn)
    batch = dataset()
    for store in (duck, pg):
        store.write(batch)
    yield duck, pg
    duck.close()
    pg.close()


@pytest.mark.parametrize("sql", [COST_BY_SERVICE_AND_MODEL, MODEL_COMPARISON, LATENCY_BY_MODEL],
                         ids=["cost", "model-comparison", "latency"])
def test_seed_queries_verbatim_same_answers_on_both_backends(stores: Any, sql: str) -> None:
    duck, pg = stores
    duck_names, duck_rows = duck.query(sql)
    pg_names, pg_rows = pg.query(sql)
    assert duck_names == pg_names
    assert normalise(duck_rows) == normalise(pg_rows)
    assert duck_rows  # the dataset makes every query answer something


def test_seed_cost_query_answers(stores: Any) -> None:
    duck, _ = stores
    names, rows = duck.query(COST_BY_SERVICE_AND_MODEL)
    by_key = {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in rows}
    rag = by_key[("rag-service", "gpt-4-turbo")]
    assert rag["request_count"] == 8 and rag["total_tokens"] == 8 * 120
    assert rag["total_cost"] == pytest.approx(5 * 0.015 + 3 * 0.02)
    assert ("summarizer", "claude-3-opus-20240229") not in by_key  # 50 hours ago
    assert rows[0][0] == "rag-service"  # ORDER BY total_cost DESC


def test_seed_comparison_query_answers(stores: Any) -> None:
    duck, _ = stores
    names, rows = duck.query(MODEL_COMPARISON)
    by_model = {r[0]: dict(zip(names, r, strict=True)) for r in rows}
    assert set(by_model) == {"gpt-4-turbo", "claude-3-opus-20240229"}
    assert by_model["gpt-4-turbo"]["error_count"] == 3
    assert by_model["claude-3-opus-20240229"]["error_count"] == 2
    assert by_model["gpt-4-turbo"]["p50_ms"] == pytest.approx(1200.0)


def test_migrations_are_versioned_and_idempotent(tmp_path: Path, postgres_dsn: str) -> None:
    for open_ in (lambda: open_store(db_path=str(tmp_path / "m.duckdb")), lambda: open_store(postgres_dsn=postgres_dsn)):
        first = open_()
        assert first.schema_version() == 1
        first.close()
        again = open_()  # opening again applies nothing twice
        assert again.query("SELECT count(*) FROM schema_migrations")[1][0][0] == 1
        again.close()


# --- the query API ----------------------------------------------------------------------------------
def _get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def _check(path_template: str, status: int, body: Any) -> None:
    """The answer matches the OpenAPI document's schema for it."""
    schema = OPENAPI["paths"][path_template]["get"]["responses"][str(status)]["content"]["application/json"]["schema"]
    jsonschema.validate(body, schema)


@pytest.fixture(params=["duckdb", "postgres"])
def api(request: Any, tmp_path: Path) -> Any:
    dsn = request.getfixturevalue("postgres_dsn") if request.param == "postgres" else None
    with Collector(make_config(tmp_path, postgres_dsn=dsn)) as c:
        c.store.write(dataset())
        yield c


def test_api_traces_filters(api: Collector) -> None:
    port = api.http_port
    status, body = _get(port, "/api/traces?since=7d&limit=100")
    assert status == 200
    _check("/api/traces", 200, body)
    assert len(body["traces"]) == 22
    assert _get(port, "/api/traces?since=7d&service=chat-api&limit=100")[1]["traces"].__len__() == 10
    errors = _get(port, "/api/traces?since=7d&status=error&limit=100")[1]["traces"]
    assert len(errors) == 5 and all(t["error"] for t in errors)
    assert len(_get(port, "/api/traces?since=7d&model=gpt-4o-mini&limit=100")[1]["traces"]) == 6
    assert len(_get(port, "/api/traces?since=7d&min_cost=0.02&limit=100")[1]["traces"]) == 9
    assert len(_get(port, "/api/traces?since=7d&min_duration_ms=1500&limit=100")[1]["traces"]) == 5
    assert len(_get(port, "/api/traces?since=7d&user=user-8&limit=100")[1]["traces"]) == 10  # "chat-api"
    assert _get(port, "/api/traces?since=yesterday")[0] == 400
    assert _get(port, "/api/traces?limit=0")[0] == 400


def test_api_trace_detail(api: Collector) -> None:
    port = api.http_port
    trace_id = _get(port, "/api/traces?since=7d&limit=1")[1]["traces"][0]["trace_id"]
    status, body = _get(port, f"/api/traces/{trace_id}")
    assert status == 200
    _check("/api/traces/{trace_id}", 200, body)
    (span,) = body["spans"]
    assert span["attributes"]["gen_ai.operation.name"] == "chat" and body["llm_calls"] == 1
    assert _get(port, "/api/traces/" + "0" * 32)[0] == 404
    assert _get(port, "/api/traces/not-an-id")[0] == 400


def test_api_usage_latency_errors(api: Collector) -> None:
    port = api.http_port
    status, body = _get(port, "/api/usage?group_by=model&since=7d")
    assert status == 200
    _check("/api/usage", 200, body)
    by_model = {r["key"]: r for r in body["rows"]}
    assert by_model["gpt-4-turbo"]["requests"] == 10 and by_model["gpt-4-turbo"]["errors"] == 3
    assert by_model["gpt-4-turbo"]["cost_usd"] == pytest.approx(5 * 0.015 + 3 * 0.02 + 2 * 0.01)
    for group in ("service", "provider", "user", "day", "hour"):
        assert _get(port, f"/api/usage?group_by={group}&since=7d")[0] == 200
    assert _get(port, "/api/usage?group_by=nonsense")[0] == 400
    status, body = _get(port, "/api/latency?since=7d")
    _check("/api/latency", 200, body)
    latency = {r["model_name"]: r for r in body["rows"]}
    assert latency["gpt-4o-mini"]["p50_ms"] == pytest.approx(300.0)
    status, body = _get(port, "/api/errors?since=7d")
    _check("/api/errors", 200, body)
    assert {(e["model_name"], e["error_code"], e["errors"]) for e in body["errors"]} == {
        ("gpt-4-turbo", "openai.RateLimitError", 3), ("claude-3-opus-20240229", "anthropic.APITimeoutError", 2)}


def test_openapi_document_is_served_and_valid(api: Collector) -> None:
    status, doc = _get(api.http_port, "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1") and set(doc["paths"]) == set(OPENAPI["paths"])
    for path in doc["paths"].values():
        for response in path["get"]["responses"].values():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if schema:
                jsonschema.Draft202012Validator.check_schema(schema)


def test_timescale_layout_on_a_server_without_the_extension(postgres_dsn: str, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """The TimescaleDB layout (time columns in the keys) is plain SQL: it works, dedupes and answers
    the seed's queries like DuckDB. The TimescaleDB-only steps fail here (no extension on this
    server) and are logged, never fatal. (The machines that run this suite have no TimescaleDB.)"""
    from llm_observatory.collector.store._postgres import PostgresStore
    with caplog.at_level("WARNING", logger="llm_observatory.collector"):
        store = PostgresStore(postgres_dsn, timescale=True)
    assert "TimescaleDB set-up incomplete" in caplog.text
    _, keys = store.query("""
        SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc
        JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name
             AND kcu.table_schema = tc.table_schema
        WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema()
        ORDER BY tc.table_name, kcu.ordinal_position""")
    columns: dict[str, list[str]] = {}
    for table, column in keys:
        columns.setdefault(table, []).append(column)
    assert columns["spans"] == ["trace_id", "span_id", "start_time"]
    assert columns["llm_metrics"] == ["trace_id", "span_id", "timestamp"]
    assert columns["metric_points"] == ["id", "timestamp"]
    batch = dataset()
    store.write(batch)
    store.write(batch)  # a retry: stored once
    duck = open_store(db_path=str(tmp_path / "t.duckdb"))
    duck.write(batch)
    assert store.query("SELECT count(*) FROM spans")[1][0][0] == len(batch.spans)
    for sql in (COST_BY_SERVICE_AND_MODEL, MODEL_COMPARISON):
        assert normalise(store.query(sql)[1]) == normalise(duck.query(sql)[1])
    store.close()
    duck.close()


def test_every_page_renders_on_both_backends(api: Collector) -> None:
    """The web UI over DuckDB and PostgreSQL (the browser tests drive it in Chromium, on DuckDB)."""
    trace_id = _get(api.http_port, "/api/traces?since=7d&limit=1")[1]["traces"][0]["trace_id"]
    requests = _get(api.http_port, "/api/overview?since=7d")[1]["totals"]["requests"]
    for path in ("/?since=7d", "/traces?since=7d&sort=cost", f"/traces/{trace_id}", "/cost?since=7d",
                 "/errors?since=7d", "/sessions?since=7d", "/sessions/none"):
        with urllib.request.urlopen(f"http://127.0.0.1:{api.http_port}{path}", timeout=10) as response:
            html = response.read().decode()
        assert response.status == 200 and "<h1>" in html and "internal error" not in html, path
    with urllib.request.urlopen(f"http://127.0.0.1:{api.http_port}/?since=7d", timeout=10) as response:
        assert f'data-metric="requests" data-value="{requests}"' in response.read().decode()


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-27T10:20:30Z", "2026-11-27T10:20:30+00:00"),
    ("2026-11-27T10:20:30.5Z", "2026-11-27T10:20:30.500000+00:00"),  # one digit: Python 3.10 takes 3 or 6 only
    ("2026-11-27T10:20:30.1234Z", "2026-11-27T10:20:30.123400+00:00"),
    ("2026-11-27T10:20:30.123456789-07:46", "2026-11-27T10:20:30.123456-07:46"),  # beyond microseconds: cut
    ("2026-11-27 10:20:60+01:00", "2026-11-27T10:20:59+01:00"),  # a leap second
    ("2026-11-27T10:20:30", "2026-11-27T10:20:30+00:00"),  # naive: UTC
])
def test_api_times_in_rfc3339_forms(text: str, expected: str) -> None:
    import datetime as dt

    from llm_observatory.collector._api import parse_time

    assert parse_time(text, dt.datetime.now(dt.timezone.utc)).isoformat() == expected


def test_api_times_ago_and_bad_times() -> None:
    import datetime as dt

    from llm_observatory.collector._api import BadRequest, parse_time

    now = dt.datetime.now(dt.timezone.utc)
    assert abs((now - parse_time("15m", now)) - dt.timedelta(minutes=15)) < dt.timedelta(seconds=5)
    with pytest.raises(BadRequest, match="not a time"):
        parse_time("yesterday-ish", now)
