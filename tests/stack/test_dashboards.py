"""The Grafana dashboards, tested against what we store and what we emit.

* Every SQL panel and template variable runs against a real PostgreSQL seeded with a week of
  realistic traffic, after expanding Grafana's macros the way Grafana's PostgreSQL data source does.
* Every Prometheus panel's metric names exist in what our SDK exports through the OpenTelemetry
  Prometheus exporter (unit suffixes, ``_total``, ``_bucket``)."""

from __future__ import annotations

import datetime as dt
import json
import re
from importlib import resources
from typing import Any

import pytest

pytest.importorskip("duckdb")

from llm_observatory.collector._otlp import Batch, decode
from llm_observatory.collector.store import open_store
from tests.collector import demo_data

DASHBOARDS = sorted((resources.files("llm_observatory") / "stack" / "grafana" / "dashboards").iterdir(),
                    key=lambda p: p.name)


def load(path: Any) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


# --- Grafana's PostgreSQL macros ----------------------------------------------------------------------
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(interval: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", interval.strip())
    assert match, interval
    return int(match.group(1)) * _UNITS[match.group(2)]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def expand(sql: str, variables: dict[str, list[str]], start: dt.datetime, end: dt.datetime,
           interval: str = "1h") -> str:
    """Expand the macros and variables as Grafana's PostgreSQL data source does."""
    ts = lambda t: _quote(t.strftime("%Y-%m-%dT%H:%M:%SZ"))  # noqa: E731
    sql = sql.replace("$__interval_ms", str(int(_seconds(interval) * 1000))).replace("$__interval", interval)
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)", lambda m: f"{m.group(1)} BETWEEN {ts(start)} AND {ts(end)}", sql)
    sql = sql.replace("$__timeFrom()", ts(start)).replace("$__timeTo()", ts(end))

    def group(m: re.Match[str], alias: bool) -> str:
        column, step = (part.strip() for part in m.group(1).split(",")[:2])
        secs = int(_seconds(step))
        expr = f"floor(extract(epoch from {column})/{secs})*{secs}"
        return f'{expr} AS "time"' if alias else expr
    sql = re.sub(r"\$__timeGroupAlias\(([^)]+)\)", lambda m: group(m, True), sql)
    sql = re.sub(r"\$__timeGroup\(([^)]+)\)", lambda m: group(m, False), sql)
    for name, values in sorted(variables.items(), key=lambda kv: -len(kv[0])):
        sql = sql.replace(f"${name}", ",".join(_quote(v) for v in values) or "NULL")
    assert "$" not in sql.replace("$$", ""), f"unexpanded: {sql}"
    return sql


# --- fixtures -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seeded(postgres_server: str) -> Any:
    import uuid

    import psycopg
    schema = f"dash_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in postgres_server else "?"
    store = open_store(postgres_dsn=f"{postgres_server}{sep}options=-csearch_path%3D{schema}")
    batch = Batch()
    for body in demo_data.requests(traces=400):
        batch.extend(decode("traces", body, False))
    store.write(batch)
    yield store
    store.close()
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(f"DROP SCHEMA {schema} CASCADE")


WINDOW = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=7), dt.datetime.now(dt.timezone.utc))


def _variables(store: Any, dashboard: dict[str, Any]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            _, rows = store.query(expand(var["query"], {}, *WINDOW))
            values[var["name"]] = [str(r[0]) for r in rows]
            assert values[var["name"]], f"variable {var['name']} has no values"
        elif var["type"] == "constant":
            values[var["name"]] = [var["query"]]
    return values


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_every_sql_panel_runs_on_seeded_postgres(path: Any, seeded: Any) -> None:
    dashboard = load(path)
    variables = _variables(seeded, dashboard)
    ran = 0
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            if "rawSql" not in target:
                continue
            for interval in ("1m", "1h"):
                names, rows = seeded.query(expand(target["rawSql"], variables, *WINDOW, interval))
                assert rows, f"{dashboard['title']} / {panel['title']}: no rows"
                if target["format"] == "time_series":
                    assert names[0] == "time", panel["title"]
                    times = [r[0] for r in rows]
                    assert times == sorted(times), panel["title"]
            # ... and one chosen value per variable, as a user picks one service and one model.
            one = {k: v[:1] for k, v in variables.items()}
            seeded.query(expand(target["rawSql"], one, *WINDOW))
            ran += 1
    assert ran or dashboard["uid"] == "never"


def test_dashboards_are_well_formed() -> None:
    uids = set()
    for path in DASHBOARDS:
        d = load(path)
        assert d["uid"] not in uids
        uids.add(d["uid"])
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), d["uid"]
        for p in d["panels"]:
            assert p["targets"] and p["datasource"]["uid"].startswith("observatory-"), p["title"]
    assert uids == {"llm-performance", "llm-cost", "llm-errors", "llm-tokens", "llm-traces"}


# --- Prometheus metric names ------------------------------------------------------------------------
def _emitted_names() -> set[str]:
    """Metric names in the Prometheus exposition of what our SDK records: a priced call, an
    unpriced one, a stream (TTFT), a failing call."""
    pytest.importorskip("opentelemetry.exporter.prometheus")
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import generate_latest
    from prometheus_client.registry import CollectorRegistry

    from llm_observatory.instrumentation._core import _telemetry
    from llm_observatory.pricing import PriceOverride, PriceTable
    from tests.core import toy

    registry = CollectorRegistry()
    reader = PrometheusMetricReader()
    registry.register(reader._collector)
    mp = MeterProvider(metric_readers=[reader])
    tel = _telemetry.build(TracerProvider(), mp, pricer=PriceTable([PriceOverride("toy-1*", 1.0, 2.0)]))
    previous = _telemetry.install(tel)
    inst = toy.ToyInstrumentor()
    inst.instrument()
    try:
        client = toy.Client()
        client.create(model="toy-1", prompt="hi")
        client.create(model="unknown-model", prompt="hi")
        for _ in client.create(model="toy-1", prompt="a b c", stream=True):
            pass
        failing = toy.Client()
        failing.fail = TimeoutError("upstream timed out")
        with pytest.raises(TimeoutError):
            failing.create(model="toy-1", prompt="hi")
        tel.metrics.flush()
        text = generate_latest(registry).decode()
    finally:
        inst.uninstrument()
        _telemetry.install(previous)
        mp.shutdown()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_every_prometheus_metric_name_is_one_we_emit() -> None:
    emitted = _emitted_names()
    used = set()
    for path in DASHBOARDS:
        for panel in load(path)["panels"]:
            for target in panel["targets"]:
                if "expr" in target and target["datasource"]["type"] == "prometheus":
                    used |= set(re.findall(r"\b((?:gen_ai|llm)_[a-zA-Z0-9_]+)\b(?=[{\[])", target["expr"]))
    assert used, "the dashboards use our metrics"
    missing = sorted(used - emitted)
    assert not missing, f"not emitted under these names: {missing}; emitted: {sorted(emitted)}"
