"""Storage behind one interface: DuckDB (embedded, the default) and PostgreSQL (psycopg 3, ``COPY``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .._otlp import Batch


class Store(Protocol):
    """Where the collector writes, and what the query API and ``report`` read."""

    backend: str

    def write(self, batch: Batch) -> None:
        """Store a batch; rows already stored (same span id, same point id) are skipped."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a read-only SQL statement (``?`` placeholders); returns column names and rows."""

    def schema_version(self) -> int:
        """The newest migration applied."""

    def close(self) -> None:
        """Release the connection."""


def open_store(*, db_path: str | None = None, postgres_dsn: str | None = None) -> Store:
    """PostgreSQL when a DSN is given, else DuckDB at ``db_path``."""
    if postgres_dsn:
        from ._postgres import PostgresStore
        return PostgresStore(postgres_dsn)  # TimescaleDB features when the server has the extension
    from ._duckdb import DuckDBStore
    return DuckDBStore(db_path or "llm-observatory.duckdb")
