"""The storage schema, the same on every backend, as versioned migrations.

Each migration is a list of statements with ``{json}``, ``{double}`` and ``{timestamp}`` standing
for the backend's types. On TimescaleDB, the time column joins each primary key (``{time_key}``):
hypertables require it, and a retried request carries the same times, so it is still stored once. Tables:

* ``spans``: every span, every attribute kept (JSON), keyed by ``(trace_id, span_id)``;
* ``llm_metrics``: one row per model call, promoted from GenAI spans (the seed's queries run on it);
* ``metric_points`` and ``log_records``: OTLP metrics and logs;
* ``schema_migrations``: the versions applied.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "initial schema", [
        """CREATE TABLE IF NOT EXISTS spans (
            trace_id VARCHAR NOT NULL,
            span_id VARCHAR NOT NULL,
            parent_span_id VARCHAR,
            name VARCHAR NOT NULL,
            kind SMALLINT,
            start_time {timestamp} NOT NULL,
            end_time {timestamp},
            duration_ms {double},
            status_code SMALLINT,
            status_message VARCHAR,
            service_name VARCHAR,
            scope_name VARCHAR,
            attributes {json},
            resource_attributes {json},
            events {json},
            links {json},
            PRIMARY KEY (trace_id, span_id{time_key_spans}))""",
        "CREATE INDEX IF NOT EXISTS spans_start_time ON spans (start_time)",
        """CREATE TABLE IF NOT EXISTS llm_metrics (
            timestamp {timestamp} NOT NULL,
            trace_id VARCHAR NOT NULL,
            span_id VARCHAR NOT NULL,
            service_name VARCHAR,
            model_name VARCHAR,
            request_model VARCHAR,
            provider VARCHAR,
            operation VARCHAR,
            prompt_tokens BIGINT,
            completion_tokens BIGINT,
            total_tokens BIGINT,
            cache_read_tokens BIGINT,
            total_cost_usd {double},
            usage_estimated BOOLEAN,
            duration_ms {double},
            ttft_ms {double},
            error_code VARCHAR,
            user_id VARCHAR,
            session_id VARCHAR,
            PRIMARY KEY (trace_id, span_id{time_key}))""",
        "CREATE INDEX IF NOT EXISTS llm_metrics_timestamp ON llm_metrics (timestamp)",
        """CREATE TABLE IF NOT EXISTS metric_points (
            id VARCHAR NOT NULL,
            timestamp {timestamp} NOT NULL,
            start_time {timestamp},
            service_name VARCHAR,
            metric_name VARCHAR NOT NULL,
            metric_type VARCHAR,
            unit VARCHAR,
            attributes {json},
            value {double},
            count BIGINT,
            sum {double},
            min {double},
            max {double},
            bucket_counts {json},
            explicit_bounds {json},
            PRIMARY KEY (id{time_key}))""",
        "CREATE INDEX IF NOT EXISTS metric_points_name_time ON metric_points (metric_name, timestamp)",
        """CREATE TABLE IF NOT EXISTS log_records (
            id VARCHAR NOT NULL,
            timestamp {timestamp} NOT NULL,
            observed_timestamp {timestamp},
            service_name VARCHAR,
            trace_id VARCHAR,
            span_id VARCHAR,
            severity_number INTEGER,
            severity_text VARCHAR,
            event_name VARCHAR,
            body {json},
            attributes {json},
            PRIMARY KEY (id{time_key}))""",
        "CREATE INDEX IF NOT EXISTS log_records_time ON log_records (timestamp)",
    ]),
]

#: Per table: the SQL expression for each stored column, from the staged batch columns (times in ns).
SELECTS = {
    "spans": ["trace_id", "span_id", "parent_span_id", "name", "kind", "{ts}(start_ns)", "{ts}(end_ns)",
              "duration_ms", "status_code", "status_message", "service_name", "scope_name",
              "CAST(attributes AS {json})", "CAST(resource_attributes AS {json})", "CAST(events AS {json})",
              "CAST(links AS {json})"],
    "llm_metrics": ["{ts}(timestamp_ns)", "trace_id", "span_id", "service_name", "model_name", "request_model",
                    "provider", "operation", "prompt_tokens", "completion_tokens", "total_tokens",
                    "cache_read_tokens", "total_cost_usd", "usage_estimated", "duration_ms", "ttft_ms",
                    "error_code", "user_id", "session_id"],
    "metric_points": ["id", "{ts}(timestamp_ns)", "{ts}(start_ns)", "service_name", "metric_name", "metric_type",
                      "unit", "CAST(attributes AS {json})", "value", "count", "sum", "min", "max",
                      "CAST(bucket_counts AS {json})", "CAST(explicit_bounds AS {json})"],
    "log_records": ["id", "{ts}(timestamp_ns)", "{ts}(observed_ns)", "service_name", "trace_id", "span_id",
                    "severity_number", "severity_text", "event_name", "CAST(body AS {json})",
                    "CAST(attributes AS {json})"],
}

#: TimescaleDB, applied after the migrations when the extension is available: hypertables by day,
#: compression (segmented by the column most queries group by), retention, and an hourly continuous
#: aggregate of ``llm_metrics``. Each statement is tried on its own; one that fails is logged and the
#: tables keep working as plain PostgreSQL tables.
TIMESCALE: list[str] = [
    "CREATE EXTENSION IF NOT EXISTS timescaledb",
    *(f"SELECT create_hypertable('{table}', '{column}', chunk_time_interval => INTERVAL '1 day', "
      "if_not_exists => TRUE, migrate_data => TRUE)"
      for table, column in (("spans", "start_time"), ("llm_metrics", "timestamp"),
                            ("metric_points", "timestamp"), ("log_records", "timestamp"))),
    *(f"ALTER TABLE {table} SET (timescaledb.compress, timescaledb.compress_segmentby = '{segment}', "
      f"timescaledb.compress_orderby = '{column} DESC')"
      for table, column, segment in (("spans", "start_time", "service_name"),
                                     ("llm_metrics", "timestamp", "model_name"),
                                     ("metric_points", "timestamp", "metric_name"),
                                     ("log_records", "timestamp", "service_name"))),
    *(f"SELECT add_compression_policy('{table}', INTERVAL '{after}', if_not_exists => TRUE)"
      for table, after in (("spans", "7 days"), ("llm_metrics", "30 days"), ("metric_points", "7 days"),
                           ("log_records", "7 days"))),
    *(f"SELECT add_retention_policy('{table}', INTERVAL '{keep}', if_not_exists => TRUE)"
      for table, keep in (("spans", "30 days"), ("llm_metrics", "365 days"), ("metric_points", "90 days"),
                          ("log_records", "30 days"))),
    """CREATE MATERIALIZED VIEW IF NOT EXISTS llm_metrics_hourly WITH (timescaledb.continuous) AS
        SELECT time_bucket(INTERVAL '1 hour', timestamp) AS bucket, service_name, model_name, provider,
               COUNT(*) AS requests, SUM(prompt_tokens) AS prompt_tokens,
               SUM(completion_tokens) AS completion_tokens, SUM(total_tokens) AS total_tokens,
               SUM(total_cost_usd) AS cost_usd, AVG(duration_ms) AS avg_duration_ms,
               SUM(CASE WHEN error_code IS NOT NULL THEN 1 ELSE 0 END) AS errors
        FROM llm_metrics GROUP BY bucket, service_name, model_name, provider WITH NO DATA""",
    "SELECT add_continuous_aggregate_policy('llm_metrics_hourly', start_offset => INTERVAL '3 days', "
    "end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE)",
]
