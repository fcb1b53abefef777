"""PostgreSQL through psycopg 3: batches are copied (``COPY``) into session staging tables, then
inserted with ``ON CONFLICT DO NOTHING``, so a retried request is stored once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from .._otlp import COLUMNS, Batch
from ._schema import MIGRATIONS, SELECTS, TIMESCALE

TYPES = {"json": "JSONB", "double": "DOUBLE PRECISION", "timestamp": "TIMESTAMPTZ", "time_key": "",
         "time_key_spans": ""}
TIMESCALE_TYPES = {**TYPES, "time_key": ", timestamp", "time_key_spans": ", start_time"}
logger = logging.getLogger("llm_observatory.collector")
#: Staging column types, by column name (everything else is text).
_STAGE_TYPES = {"kind": "SMALLINT", "status_code": "SMALLINT", "duration_ms": "DOUBLE PRECISION",
                "prompt_tokens": "BIGINT", "completion_tokens": "BIGINT", "total_tokens": "BIGINT",
                "cache_read_tokens": "BIGINT", "total_cost_usd": "DOUBLE PRECISION", "usage_estimated": "BOOLEAN",
                "ttft_ms": "DOUBLE PRECISION", "value": "DOUBLE PRECISION", "count": "BIGINT",
                "sum": "DOUBLE PRECISION", "min": "DOUBLE PRECISION", "max": "DOUBLE PRECISION",
                "severity_number": "INTEGER"}


def _stage_type(column: str) -> str:
    if column.endswith("_ns"):
        return "BIGINT"
    return _STAGE_TYPES.get(column, "TEXT")


class PostgresStore:
    backend = "postgres"

    def __init__(self, dsn: str, timescale: bool | None = None) -> None:
        """``timescale``: use TimescaleDB (``None``: when the server has the extension)."""
        import psycopg

        self.dsn = dsn
        self._con = psycopg.connect(dsn, autocommit=False)
        self._read = psycopg.connect(dsn, autocommit=True)
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        if timescale is None:
            with self._read.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
                row = cur.fetchone()
                timescale = bool(row and row[0])
        self.timescale = timescale
        self._migrate()
        if timescale:
            self._timescale()
        with self._con.cursor() as cur:
            for table, columns in COLUMNS.items():
                cols = ", ".join(f"{c} {_stage_type(c)}" for c in columns)
                cur.execute(f"CREATE TEMP TABLE _stage_{table} ({cols}) ON COMMIT DELETE ROWS")
        self._con.commit()
        ts = "_llmobs_ts"
        self._inserts = {
            table: f"INSERT INTO {table} SELECT "
                   + ", ".join(s.format(ts=ts, json="JSONB") for s in SELECTS[table])
                   + f" FROM _stage_{table} ON CONFLICT DO NOTHING"
            for table in COLUMNS}

    def _migrate(self) -> None:
        con = self._con
        with con.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(7283917)")  # one migrating collector at a time
            cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                        "description VARCHAR, applied_at TIMESTAMPTZ DEFAULT now())")
            cur.execute("CREATE OR REPLACE FUNCTION _llmobs_ts(ns BIGINT) RETURNS TIMESTAMPTZ LANGUAGE SQL "
                        "IMMUTABLE AS $$ SELECT CASE WHEN ns IS NULL OR ns = 0 THEN NULL "
                        "ELSE TIMESTAMPTZ 'epoch' + (ns / 1000) * INTERVAL '1 microsecond' END $$")
            cur.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in cur.fetchall()}
            for version, description, statements in MIGRATIONS:
                if version in done:
                    continue
                types = TIMESCALE_TYPES if self.timescale else TYPES
                for statement in statements:
                    cur.execute(statement.format(**types))  # type: ignore[arg-type]
                cur.execute("INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                            (version, description))
        con.commit()

    def _timescale(self) -> None:
        """Hypertables, compression, retention and the hourly aggregate; each step on its own, so a
        step that fails (an older TimescaleDB, missing rights) leaves plain tables that work."""
        failed = []
        for statement in TIMESCALE:
            try:
                with self._read.cursor() as cur:
                    cur.execute(statement)  # type: ignore[arg-type]
            except Exception as exc:
                failed.append(f"{statement.split('(')[0].strip()[:60]}: {str(exc).splitlines()[0]}")
        if failed:
            logger.warning("LLM Observatory collector: TimescaleDB set-up incomplete; the tables work as plain "
                           "PostgreSQL tables. Failed: %s", "; ".join(failed))
        else:
            logger.info("LLM Observatory collector: TimescaleDB hypertables, compression, retention and "
                        "llm_metrics_hourly are set up")

    def schema_version(self) -> int:
        return int(self.query("SELECT max(version) FROM schema_migrations")[1][0][0] or 0)

    def write(self, batch: Batch) -> None:
        with self._lock:
            con = self._con
            try:
                with con.cursor() as cur:
                    for table, rows in batch.tables():
                        if not rows:
                            continue
                        columns = ", ".join(COLUMNS[table])
                        with cur.copy(f"COPY _stage_{table} ({columns}) FROM STDIN") as copy:  # type: ignore[arg-type]
                            for row in rows:
                                copy.write_row(row)
                        cur.execute(self._inserts[table])  # type: ignore[arg-type]
                con.commit()
            except BaseException:
                con.rollback()
                raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._read_lock, self._read.cursor() as cur:
            cur.execute(sql.replace("%", "%%").replace("?", "%s") if params else sql,  # type: ignore[arg-type]
                        list(params) or None)
            names = [d.name for d in (cur.description or [])]
            return names, list(cur.fetchall())

    def close(self) -> None:
        with self._lock:
            self._con.close()
        with self._read_lock:
            self._read.close()
