"""The query API: traces, one trace, cost and usage summaries, latency percentiles, errors.

Each endpoint is one SQL statement that runs unchanged on DuckDB and PostgreSQL. Answers are
JSON; the OpenAPI document (:data:`OPENAPI`) describes them and is served at ``/openapi.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .store import Store


class BadRequest(ValueError):
    """A query parameter is invalid (answered with 400 and this message)."""


_RELATIVE = re.compile(r"^([0-9]{1,5})([smhdw])$")
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
GROUPS = {"service": "service_name", "model": "model_name", "provider": "provider", "user": "user_id",
          "session": "session_id", "operation": "operation",
          "hour": "date_trunc('hour', timestamp)", "day": "date_trunc('day', timestamp)"}


def parse_time(value: str | None, default: dt.datetime) -> dt.datetime:
    """An ISO 8601 time, or a time ago (``15m``, ``24h``, ``7d``); naive times are UTC."""
    if value is None:
        return default
    text = value.strip()
    try:
        match = _RELATIVE.match(text)
        if match:
            return dt.datetime.now(dt.timezone.utc) - dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        rfc = _RFC3339.match(text)
        if rfc:  # RFC 3339: any fraction length, "Z", a leap second
            day, hour_minute, second, fraction, zone = rfc.groups()
            second = "59" if second == "60" else second
            zone = "+00:00" if zone in (None, "Z", "z") else zone
            micros = (fraction[1:] + "00000")[:6] if fraction else "000000"  # Python 3.10 takes 6 digits only
            text = f"{day}T{hour_minute}:{second}.{micros}{zone}"
        parsed = dt.datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise BadRequest(f"not a time: {value!r} (use ISO 8601, or 15m, 24h, 7d)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _number(params: Mapping[str, str], name: str, default: float | None = None) -> float | None:
    value = params.get(name)
    if value is None:
        return default
    try:
        number = float(value)  # type: ignore[arg-type]
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise BadRequest(f"{name} must be a finite number")
    return number


def _limit(params: Mapping[str, str]) -> int:
    limit = _number(params, "limit", 50)
    assert limit is not None
    if not 1 <= limit <= 1000 or int(limit) != limit:
        raise BadRequest("limit must be an integer from 1 to 1000")
    return int(limit)


def _offset(params: Mapping[str, str]) -> int:
    offset = _number(params, "offset", 0)
    assert offset is not None
    if not 0 <= offset <= 1_000_000 or int(offset) != offset:
        raise BadRequest("offset must be an integer from 0 to 1000000")
    return int(offset)


#: ``sort`` values of the traces list.
SORTS = {"start_time": "t.start_time DESC", "duration": "t.duration_ms DESC NULLS LAST, t.start_time DESC",
         "cost": "m.cost_usd DESC NULLS LAST, t.start_time DESC",
         "tokens": "m.total_tokens DESC NULLS LAST, t.start_time DESC"}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, float) and value != value:
        return None
    return value


def _records(names: list[str], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in rows]


def _window(params: Mapping[str, str]) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    since = parse_time(params.get("since"), now - dt.timedelta(days=1))
    until = parse_time(params.get("until"), now + dt.timedelta(minutes=1))
    return since, until


def traces(store: Store, params: Mapping[str, str]) -> dict[str, Any]:
    since, until = _window(params)
    if any("\x00" in v for v in params.values()):  # no stored text holds NUL: nothing matches
        return {"traces": []}
    where: list[str] = ["t.start_time >= ?", "t.start_time < ?"]
    args: list[Any] = [since, until]
    if params.get("service"):
        where.append("t.service_name = ?")
        args.append(params["service"])
    if "status" in params:
        if params["status"] not in ("error", "ok"):
            raise BadRequest("status must be ok or error")
        where.append("t.has_error = ?")
        args.append(1 if params["status"] == "error" else 0)
    for key, column in (("model", "model_name"), ("user", "user_id"), ("session", "session_id")):
        if params.get(key):
            where.append(f"t.trace_id IN (SELECT trace_id FROM llm_metrics WHERE {column} = ?)")
            args.append(params[key])
    min_cost = _number(params, "min_cost")
    if min_cost is not None:
        where.append("COALESCE(m.cost_usd, 0) >= ?")
        args.append(min_cost)
    min_ms = _number(params, "min_duration_ms")
    if min_ms is not None:
        where.append("t.duration_ms >= ?")
        args.append(min_ms)
    sort = params.get("sort", "start_time")
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}")
    order = SORTS[sort]
    sql = f"""
        WITH t AS (
            SELECT trace_id, MIN(start_time) AS start_time,
                   EXTRACT(EPOCH FROM (MAX(end_time) - MIN(start_time))) * 1000 AS duration_ms,
                   COUNT(*) AS span_count, MAX(CASE WHEN status_code = 2 THEN 1 ELSE 0 END) AS has_error,
                   MIN(service_name) AS service_name,
                   MIN(CASE WHEN parent_span_id IS NULL THEN name END) AS root_name
            FROM spans WHERE start_time >= ? AND start_time < ? GROUP BY trace_id),
        m AS (
            SELECT trace_id, SUM(total_cost_usd) AS cost_usd, SUM(total_tokens) AS total_tokens,
                   COUNT(*) AS llm_calls, MIN(model_name) AS model_name, MIN(user_id) AS user_id,
                   MIN(session_id) AS session_id
            FROM llm_metrics WHERE timestamp >= ? AND timestamp < ? GROUP BY trace_id)
        SELECT t.trace_id, t.root_name, t.service_name, t.start_time, t.duration_ms, t.span_count,
               t.has_error = 1 AS error, m.llm_calls, m.model_name, m.total_tokens, m.cost_usd,
               m.user_id, m.session_id
        FROM t LEFT JOIN m ON m.trace_id = t.trace_id
        WHERE {" AND ".join(where)}
        ORDER BY {order}
        LIMIT ? OFFSET ?"""
    names, rows = store.query(sql, [since, until, since, until, *args, _limit(params), _offset(params)])
    return {"traces": _records(names, rows)}


def trace(store: Store, trace_id: str) -> dict[str, Any] | None:
    if not re.fullmatch(r"[0-9a-f]{32}", trace_id):
        raise BadRequest("a trace id is 32 lowercase hex digits")
    names, rows = store.query(
        "SELECT span_id, parent_span_id, name, kind, start_time, end_time, duration_ms, status_code, "
        "status_message, service_name, scope_name, attributes, resource_attributes, events, links "
        "FROM spans WHERE trace_id = ? ORDER BY start_time, span_id", [trace_id])
    if not rows:
        return None
    _, calls = store.query(
        "SELECT COUNT(*), SUM(total_tokens), SUM(total_cost_usd) FROM llm_metrics WHERE trace_id = ?", [trace_id])
    count, tokens, cost = (_plain(v) for v in calls[0])
    return {"trace_id": trace_id, "spans": _records(names, rows),
            "llm_calls": count, "total_tokens": tokens, "cost_usd": cost}


def usage(store: Store, params: Mapping[str, str]) -> dict[str, Any]:
    group = params.get("group_by", "model")
    if group not in GROUPS:
        raise BadRequest(f"group_by must be one of {', '.join(GROUPS)}")
    since, until = _window(params)
    key = GROUPS[group]
    names, rows = store.query(f"""
        SELECT {key} AS key, COUNT(*) AS requests, SUM(prompt_tokens) AS prompt_tokens,
               SUM(completion_tokens) AS completion_tokens, SUM(total_tokens) AS total_tokens,
               SUM(total_cost_usd) AS cost_usd, AVG(duration_ms) AS avg_duration_ms,
               COUNT(*) FILTER (WHERE error_code IS NOT NULL) AS errors
        FROM llm_metrics WHERE timestamp >= ? AND timestamp < ?
        GROUP BY {key} ORDER BY cost_usd DESC NULLS LAST, requests DESC LIMIT ?""",
        [since, until, _limit(params)])
    return {"group_by": group, "rows": _records(names, rows)}


def latency(store: Store, params: Mapping[str, str]) -> dict[str, Any]:
    since, until = _window(params)
    names, rows = store.query("""
        SELECT model_name, COUNT(*) AS requests,
               PERCENTILE_CONT(0.50) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
               PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
               PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms,
               PERCENTILE_CONT(0.50) WITHIN GROUP (ORDER BY ttft_ms) AS ttft_p50_ms,
               PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY ttft_ms) AS ttft_p95_ms
        FROM llm_metrics WHERE timestamp >= ? AND timestamp < ?
        GROUP BY model_name ORDER BY requests DESC, model_name LIMIT ?""", [since, until, _limit(params)])
    return {"rows": _records(names, rows)}


def errors(store: Store, params: Mapping[str, str]) -> dict[str, Any]:
    since, until = _window(params)
    names, rows = store.query("""
        SELECT provider, model_name, error_code, COUNT(*) AS errors
        FROM llm_metrics WHERE timestamp >= ? AND timestamp < ? AND error_code IS NOT NULL
        GROUP BY provider, model_name, error_code ORDER BY errors DESC, error_code LIMIT ?""",
        [since, until, _limit(params)])
    rate_names, rate_rows = store.query("""
        SELECT model_name, COUNT(*) AS requests,
               COUNT(*) FILTER (WHERE error_code IS NOT NULL) AS errors
        FROM llm_metrics WHERE timestamp >= ? AND timestamp < ?
        GROUP BY model_name ORDER BY requests DESC, model_name""", [since, until])
    rates = _records(rate_names, rate_rows)
    provider_names, provider_rows = store.query("""
        SELECT provider, COUNT(*) AS requests, COUNT(*) FILTER (WHERE error_code IS NOT NULL) AS errors
        FROM llm_metrics WHERE timestamp >= ? AND timestamp < ?
        GROUP BY provider ORDER BY requests DESC, provider""", [since, until])
    providers = _records(provider_names, provider_rows)
    for r in (*rates, *providers):
        r["error_rate"] = (r["errors"] or 0) / r["requests"] if r["requests"] else 0.0
    return {"errors": _records(names, rows), "by_model": rates, "by_provider": providers}


def overview(store: Store, params: Mapping[str, str]) -> dict[str, Any]:
    """Totals for the window, and requests, cost and errors per time bucket (hour, or day past 3 days)."""
    since, until = _window(params)
    names, rows = store.query("""
        SELECT COUNT(*) AS requests, SUM(total_cost_usd) AS cost_usd, SUM(total_tokens) AS total_tokens,
               COUNT(*) FILTER (WHERE error_code IS NOT NULL) AS errors,
               PERCENTILE_CONT(0.50) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
               PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
               PERCENTILE_CONT(0.50) WITHIN GROUP (ORDER BY ttft_ms) AS ttft_p50_ms
        FROM llm_metrics WHERE timestamp >= ? AND timestamp < ?""", [since, until])
    totals = _records(names, rows)[0]
    totals["error_rate"] = (totals["errors"] or 0) / totals["requests"] if totals["requests"] else 0.0
    bucket = "hour" if until - since <= dt.timedelta(days=3) else "day"
    names, rows = store.query(f"""
        SELECT date_trunc('{bucket}', timestamp) AS bucket, COUNT(*) AS requests,
               SUM(total_cost_usd) AS cost_usd, COUNT(*) FILTER (WHERE error_code IS NOT NULL) AS errors
        FROM llm_metrics WHERE timestamp >= ? AND timestamp < ?
        GROUP BY date_trunc('{bucket}', timestamp) ORDER BY bucket""", [since, until])
    return {"totals": totals, "bucket": bucket, "series": _records(names, rows)}


def expensive(store: Store, params: Mapping[str, str]) -> dict[str, Any]:
    """The most expensive model calls of the window."""
    since, until = _window(params)
    names, rows = store.query("""
        SELECT timestamp, trace_id, span_id, service_name, model_name, user_id, total_tokens, total_cost_usd,
               duration_ms
        FROM llm_metrics WHERE timestamp >= ? AND timestamp < ? AND total_cost_usd IS NOT NULL
        ORDER BY total_cost_usd DESC, timestamp DESC LIMIT ?""", [since, until, _limit(params)])
    return {"rows": _records(names, rows)}


def sessions(store: Store, params: Mapping[str, str]) -> dict[str, Any]:
    since, until = _window(params)
    names, rows = store.query("""
        SELECT session_id, MIN(user_id) AS user_id, COUNT(*) AS requests, SUM(total_cost_usd) AS cost_usd,
               SUM(total_tokens) AS total_tokens, MIN(timestamp) AS first_seen, MAX(timestamp) AS last_seen
        FROM llm_metrics WHERE timestamp >= ? AND timestamp < ? AND session_id IS NOT NULL
        GROUP BY session_id ORDER BY last_seen DESC LIMIT ? OFFSET ?""",
        [since, until, _limit(params), _offset(params)])
    return {"sessions": _records(names, rows)}


def session(store: Store, session_id: str) -> dict[str, Any]:
    names, rows = store.query("""
        SELECT timestamp, trace_id, span_id, service_name, model_name, operation, prompt_tokens,
               completion_tokens, total_cost_usd, duration_ms, ttft_ms, error_code, user_id
        FROM llm_metrics WHERE session_id = ? ORDER BY timestamp, span_id LIMIT 1000""", [session_id])
    return {"session_id": session_id, "calls": _records(names, rows)}


# --- OpenAPI --------------------------------------------------------------------------------------
_TIME = {"description": "an RFC 3339 time, or a time ago: 15m, 24h, 7d",
         "anyOf": [{"type": "string", "format": "date-time"},
                   {"type": "string", "pattern": "^[0-9]{1,5}[smhdw]$"}]}
_WINDOW = [{"name": "since", "in": "query", "schema": _TIME, "description": "default: 24h ago"},
           {"name": "until", "in": "query", "schema": _TIME, "description": "default: now"},
           {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}]
_OFFSET = {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1000000}}
_NUM = {"type": ["number", "null"]}
_INT = {"type": ["integer", "null"]}
_STR = {"type": ["string", "null"]}
_ERROR = {"description": "invalid parameter",
          "content": {"application/json": {"schema": {"type": "object", "required": ["error"],
                                                      "properties": {"error": {"type": "string"}}}}}}


def _rows(properties: dict[str, Any], key: str = "rows") -> dict[str, Any]:
    return {"type": "object", "required": [key], "properties": {key: {"type": "array", "items": {
        "type": "object", "properties": properties}}}}


def _ok(schema: dict[str, Any]) -> dict[str, Any]:
    return {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}, "400": _ERROR}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "LLM Observatory collector query API", "version": "1"},
    "paths": {
        "/api/traces": {"get": {
            "summary": "Traces, newest first, with their model calls, tokens and cost",
            "parameters": [*_WINDOW, *({"name": n, "in": "query", "schema": {"type": "string"}}
                                       for n in ("service", "model", "user", "session")),
                           {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["ok", "error"]}},
                           {"name": "min_cost", "in": "query", "schema": {"type": "number"}},
                           {"name": "min_duration_ms", "in": "query", "schema": {"type": "number"}},
                           {"name": "sort", "in": "query", "schema": {"type": "string", "enum": list(SORTS)}},
                           _OFFSET],
            "responses": _ok(_rows({"trace_id": {"type": "string"}, "root_name": _STR, "service_name": _STR,
                                    "start_time": {"type": "string"}, "duration_ms": _NUM,
                                    "span_count": {"type": "integer"}, "error": {"type": "boolean"},
                                    "llm_calls": _INT, "model_name": _STR, "total_tokens": _INT,
                                    "cost_usd": _NUM, "user_id": _STR, "session_id": _STR}, "traces"))}},
        "/api/traces/{trace_id}": {"get": {
            "summary": "One trace: its spans with every attribute",
            "parameters": [{"name": "trace_id", "in": "path", "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}],
            "responses": {**_ok({"type": "object", "required": ["trace_id", "spans"], "properties": {
                "trace_id": {"type": "string"}, "spans": {"type": "array", "items": {"type": "object"}},
                "llm_calls": _INT, "total_tokens": _INT, "cost_usd": _NUM}}),
                "404": {"description": "no such trace", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"error": {"type": "string"}}}}}}}}},
        "/api/usage": {"get": {
            "summary": "Requests, tokens and cost grouped by service, model, provider, user, session or time bucket",
            "parameters": [*_WINDOW, {"name": "group_by", "in": "query",
                                      "schema": {"type": "string", "enum": list(GROUPS)}}],
            "responses": _ok(_rows({"key": {}, "requests": {"type": "integer"}, "prompt_tokens": _INT,
                                    "completion_tokens": _INT, "total_tokens": _INT, "cost_usd": _NUM,
                                    "avg_duration_ms": _NUM, "errors": {"type": "integer"}}))}},
        "/api/latency": {"get": {
            "summary": "Latency and time-to-first-token percentiles per model",
            "parameters": _WINDOW,
            "responses": _ok(_rows({"model_name": _STR, "requests": {"type": "integer"}, "p50_ms": _NUM,
                                    "p95_ms": _NUM, "p99_ms": _NUM, "ttft_p50_ms": _NUM, "ttft_p95_ms": _NUM}))}},
        "/api/overview": {"get": {
            "summary": "Totals (requests, cost, tokens, errors, latency and TTFT percentiles) and a time series",
            "parameters": _WINDOW[:2],
            "responses": _ok({"type": "object", "required": ["totals", "bucket", "series"], "properties": {
                "totals": {"type": "object"}, "bucket": {"type": "string", "enum": ["hour", "day"]},
                "series": {"type": "array", "items": {"type": "object"}}}})}},
        "/api/expensive": {"get": {
            "summary": "The most expensive model calls",
            "parameters": _WINDOW,
            "responses": _ok(_rows({"trace_id": {"type": "string"}, "model_name": _STR, "total_cost_usd": _NUM}))}},
        "/api/sessions": {"get": {
            "summary": "Sessions, most recent first, with their calls, tokens and cost",
            "parameters": [*_WINDOW, _OFFSET],
            "responses": _ok(_rows({"session_id": {"type": "string"}, "requests": {"type": "integer"},
                                    "cost_usd": _NUM}, "sessions"))}},
        "/api/sessions/{session_id}": {"get": {
            "summary": "A session's model calls in order",
            "parameters": [{"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": _ok({"type": "object", "required": ["session_id", "calls"], "properties": {
                "session_id": {"type": "string"}, "calls": {"type": "array", "items": {"type": "object"}}}})}},
        "/api/errors": {"get": {
            "summary": "Errors by provider, model and error type, and error rates per model and per provider",
            "parameters": _WINDOW,
            "responses": _ok({"type": "object", "required": ["errors", "by_model", "by_provider"], "properties": {
                "errors": {"type": "array", "items": {"type": "object"}},
                "by_model": {"type": "array", "items": {"type": "object"}},
                "by_provider": {"type": "array", "items": {"type": "object"}}}})}},
    },
}
