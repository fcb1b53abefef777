"""The reference collector: OTLP in (HTTP and gRPC), a durable spool, and the seed's SQL out.

``pip install "llm-observatory[collector]"`` then ``llm-observatory collector`` runs it on one
machine, storing in an embedded DuckDB file, or in PostgreSQL with ``--postgres-dsn``.
"""

from __future__ import annotations

from ._collector import Collector, CollectorConfig
from .store import Store, open_store

__all__ = ["Collector", "CollectorConfig", "Store", "open_store"]
