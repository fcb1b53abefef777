"""The queries of the product description ("Use Cases Demonstrated"), verbatim. They run
unchanged on DuckDB and PostgreSQL; the tests hold both backends to the same answers."""

from __future__ import annotations

COST_BY_SERVICE_AND_MODEL = """\
-- Find most expensive requests in last 24 hours
SELECT
    service_name,
    model_name,
    COUNT(*) as request_count,
    SUM(total_tokens) as total_tokens,
    SUM(total_cost_usd) as total_cost,
    AVG(duration_ms) as avg_latency_ms
FROM llm_metrics
WHERE timestamp > NOW() - INTERVAL '24 hours'
GROUP BY service_name, model_name
ORDER BY total_cost DESC
LIMIT 10;
"""

MODEL_COMPARISON = """\
-- Compare GPT-4 vs Claude-3 performance
SELECT
    model_name,
    PERCENTILE_CONT(0.50) WITHIN GROUP (ORDER BY duration_ms) as p50_ms,
    PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY duration_ms) as p95_ms,
    AVG(total_cost_usd) as avg_cost,
    AVG(total_tokens) as avg_tokens,
    COUNT(*) FILTER (WHERE error_code IS NOT NULL) as error_count
FROM llm_metrics
WHERE timestamp > NOW() - INTERVAL '7 days'
  AND model_name IN ('gpt-4-turbo', 'claude-3-opus-20240229')
GROUP BY model_name;
"""

#: The comparison for every model (the report's latency table): the seed's query without its model list.
LATENCY_BY_MODEL = """\
SELECT
    model_name,
    COUNT(*) as requests,
    PERCENTILE_CONT(0.50) WITHIN GROUP (ORDER BY duration_ms) as p50_ms,
    PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY duration_ms) as p95_ms,
    PERCENTILE_CONT(0.50) WITHIN GROUP (ORDER BY ttft_ms) as ttft_p50_ms,
    AVG(total_cost_usd) as avg_cost,
    AVG(total_tokens) as avg_tokens,
    COUNT(*) FILTER (WHERE error_code IS NOT NULL) as error_count
FROM llm_metrics
WHERE timestamp > NOW() - INTERVAL '7 days'
GROUP BY model_name
ORDER BY requests DESC;
"""
