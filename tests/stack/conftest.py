"""The stack's tests use the collector tests' PostgreSQL fixtures."""

from tests.collector.conftest import postgres_dsn, postgres_server

__all__ = ["postgres_dsn", "postgres_server"]
