"""The embedded store: one DuckDB file. Batches go in as Arrow tables (about 190,000 rows/s)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from .._otlp import COLUMNS, Batch
from ._schema import MIGRATIONS, SELECTS

TYPES = {"json": "JSON", "double": "DOUBLE", "timestamp": "TIMESTAMPTZ", "time_key": "", "time_key_spans": ""}


class DuckDBStore:
    backend = "duckdb"

    def __init__(self, path: str) -> None:
        import duckdb

        self.path = path
        self._con = duckdb.connect(path)
        self._con.execute("SET TimeZone = 'UTC'")
        self._lock = threading.Lock()
        self._migrate()
        self._inserts = {
            table: f"INSERT OR IGNORE INTO {table} SELECT "
                   + ", ".join(s.format(ts="_ts", json="JSON") for s in SELECTS[table]) + " FROM _batch"
            for table in COLUMNS}
        self._con.execute("CREATE OR REPLACE MACRO _ts(ns) AS "
                          "CASE WHEN ns IS NULL OR ns = 0 THEN NULL ELSE make_timestamptz(ns // 1000) END")

    def _migrate(self) -> None:
        con = self._con
        con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "description VARCHAR, applied_at TIMESTAMPTZ DEFAULT now())")
        done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, description, statements in MIGRATIONS:
            if version in done:
                continue
            con.execute("BEGIN")
            for statement in statements:
                con.execute(statement.format(**TYPES))
            con.execute("INSERT INTO schema_migrations (version, description) VALUES (?, ?)", [version, description])
            con.execute("COMMIT")

    def schema_version(self) -> int:
        return int(self.query("SELECT max(version) FROM schema_migrations")[1][0][0] or 0)

    def write(self, batch: Batch) -> None:
        import pyarrow as pa

        with self._lock:
            con = self._con
            con.execute("BEGIN")
            try:
                for table, rows in batch.tables():
                    if not rows:
                        continue
                    columns = COLUMNS[table]
                    values = zip(*rows, strict=True)
                    arrow = pa.table({name: list(column) for name, column in zip(columns, values, strict=True)})
                    con.register("_batch", arrow)
                    try:
                        con.execute(self._inserts[table])
                    finally:
                        con.unregister("_batch")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self._con.cursor()
        try:
            cursor.execute(sql, list(params))
            names = [d[0] for d in (cursor.description or [])]
            return names, cursor.fetchall()
        finally:
            cursor.close()

    def close(self) -> None:
        with self._lock:
            self._con.close()
