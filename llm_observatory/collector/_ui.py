"""The local web UI: server-rendered pages over the query API, charts as inline SVG, no script and
nothing fetched from the network. Every number comes from the same functions as ``/api/...``, and
carries its raw value in ``data-value`` (the browser tests compare the two)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from . import _api
from .store import Store

RANGES = (("1h", "1 hour"), ("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days"))
NAV = (("/", "Overview"), ("/traces", "Traces"), ("/cost", "Cost"), ("/errors", "Errors"), ("/sessions", "Sessions"))

CSS = """
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;color:#1d2433;
background:#f6f7fb}header{background:#1d2433;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header b{font-size:16px}header a{color:#c9d3ea;text-decoration:none}header a.on{color:#fff;font-weight:600}
main{padding:20px 24px;max-width:1400px}h1{font-size:20px;margin:0 0 12px}h2{font-size:15px;margin:20px 0 8px}
.ranges a{margin-right:10px}.ranges a.on{font-weight:700;text-decoration:none;color:#1d2433}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px;margin:12px 0}
.card{background:#fff;border:1px solid #e2e6f0;border-radius:8px;padding:12px}.card .k{color:#5b6475;font-size:12px}
.card .v{font-size:22px;font-weight:600}table{border-collapse:collapse;background:#fff;width:100%;
border:1px solid #e2e6f0}th,td{padding:6px 10px;border-bottom:1px solid #eef0f5;text-align:left;white-space:nowrap}
th{background:#f0f2f8;font-weight:600;font-size:12px}td.n{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:16px}.grid>div{overflow-x:auto}.bar{background:#4a6cf7;
height:8px;border-radius:4px}.err{color:#c0392b}.ok{color:#1e8449}form.filters{display:flex;flex-wrap:wrap;gap:8px;
margin-bottom:12px}form.filters input,form.filters select{padding:4px 6px}svg{background:#fff;border:1px solid #e2e6f0;
border-radius:8px}.wf{position:relative;height:22px;background:#f0f2f8;border-radius:3px}.wf span{position:absolute;
top:3px;height:16px;border-radius:3px;background:#4a6cf7}.wf span.e{background:#c0392b}.chat{background:#fff;
border:1px solid #e2e6f0;border-radius:8px;padding:8px 12px;margin:6px 0;white-space:pre-wrap}.chat .r{font-size:12px;
color:#5b6475;text-transform:uppercase}.muted{color:#5b6475}a{color:#2f55d4}
"""


# --- formatting ---------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "usd":
        return f"${value:,.6f}" if value < 1 else f"${value:,.2f}"
    if kind == "ms":
        return f"{value:,.1f} ms" if value < 10_000 else f"{value / 1000:,.2f} s"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "int":
        return f"{int(value):,}"
    return _e(value)


def _num(value: Any, kind: str, metric: str = "") -> str:
    raw = "" if value is None else (repr(value) if isinstance(value, float) else str(value))
    attr = f' data-metric="{_e(metric)}"' if metric else ""
    return f'<span{attr} data-value="{_e(raw)}">{_fmt(value, kind)}</span>'


def _qs(params: Mapping[str, str], **changes: Any) -> str:
    merged = {k: v for k, v in params.items() if v not in (None, "")}
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return "?" + urlencode(merged) if merged else ""


def _trace_link(trace_id: Any) -> str:
    return f'<a href="/traces/{quote(str(trace_id))}">{_e(str(trace_id)[:16])}…</a>'


# --- charts (inline SVG) ------------------------------------------------------------------------
def bar_chart(points: list[tuple[str, float]], title: str, kind: str, width: int = 640, height: int = 180) -> str:
    if not points:
        return f'<p class="muted">No {escape(title.lower())} in this range.</p>'
    top = max(v for _, v in points) or 1.0
    pad, n = 28, len(points)
    step = (width - 2 * pad) / n
    bars = []
    for i, (label, value) in enumerate(points):
        h = (height - 2 * pad) * (value / top)
        x = pad + i * step
        bars.append(f'<rect x="{x + step * 0.1:.1f}" y="{height - pad - h:.1f}" width="{step * 0.8:.1f}" '
                    f'height="{h:.1f}" fill="#4a6cf7"><title>{_e(label)}: {_fmt(value, kind)}</title></rect>')
    first, last = points[0][0], points[-1][0]
    return (f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><text x="{pad}" y="18" font-size="12" fill="#5b6475">{_e(title)} '
            f'(max {_fmt(top, kind)})</text>{"".join(bars)}'
            f'<text x="{pad}" y="{height - 8}" font-size="11" fill="#5b6475">{_e(first)}</text>'
            f'<text x="{width - pad}" y="{height - 8}" font-size="11" fill="#5b6475" text-anchor="end">'
            f'{_e(last)}</text></svg>')


def scatter(points: list[tuple[str, float, float]], title: str, width: int = 640, height: int = 260) -> str:
    """Cost per call (y) against p50 latency (x), one labelled dot per model."""
    if not points:
        return f'<p class="muted">No {escape(title.lower())} in this range.</p>'
    pad = 40
    max_x = max(p[1] for p in points) or 1.0
    max_y = max(p[2] for p in points) or 1.0
    dots = []
    for label, x, y in points:
        cx = pad + (width - 2 * pad - 170) * (x / max_x)  # room on the right for the labels
        cy = height - pad - (height - 2 * pad) * (y / max_y)
        dots.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" fill="#4a6cf7"><title>{_e(label)}: '
                    f'{_fmt(x, "ms")}, {_fmt(y, "usd")} a call</title></circle>'
                    f'<text x="{cx + 8:.1f}" y="{cy + 4:.1f}" font-size="11">{_e(label)}</text>')
    return (f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><text x="{pad}" y="18" font-size="12" fill="#5b6475">{_e(title)}</text>'
            f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#c8cfdf"/>'
            f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#c8cfdf"/>'
            f'<text x="{width - pad}" y="{height - 12}" font-size="11" text-anchor="end" fill="#5b6475">'
            f'p50 latency → {_fmt(max_x, "ms")}</text><text x="{pad + 4}" y="{pad - 6}" font-size="11" '
            f'fill="#5b6475">cost a call ↑ {_fmt(max_y, "usd")}</text>{"".join(dots)}</svg>')


Cell = tuple[str, str]


def _table(headers: Iterable[tuple[str, str]], rows: Iterable[Iterable[Cell]], table_id: str = "") -> str:
    head = "".join(f'<th class="{cls}">{_e(name)}</th>' for name, cls in headers)
    body = "".join("<tr>" + "".join(rows_cell) + "</tr>" for rows_cell in
                   ([f"<td{c[0]}>{c[1]}</td>" for c in row] for row in rows))
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _td(html: str, numeric: bool = False) -> Cell:
    return (' class="n"' if numeric else "", html)


def _breakdown(rows: list[dict[str, Any]], title: str, table_id: str) -> str:
    top = max((r["cost_usd"] or 0 for r in rows), default=0) or 1
    cells = [[_td(_e(r["key"] if r["key"] is not None else "–")), _td(_num(r["requests"], "int"), True),
              _td(_num(r["total_tokens"], "int"), True), _td(_num(r["cost_usd"], "usd"), True),
              _td(f'<div class="bar" style="width:{120 * (r["cost_usd"] or 0) / top:.0f}px"></div>'),
              _td(_num(r["avg_duration_ms"], "ms"), True), _td(_num(r["errors"], "int"), True)] for r in rows]
    return f"<div><h2>{_e(title)}</h2>" + _table(
        [(title.split()[-1], ""), ("requests", "n"), ("tokens", "n"), ("cost", "n"), ("", ""),
         ("mean latency", "n"), ("errors", "n")], cells, table_id) + "</div>"


# --- layout ---------------------------------------------------------------------------------------
def _page(title: str, path: str, params: Mapping[str, str], body: str, ranges: bool = True) -> str:
    nav = "".join(f'<a href="{href}{_qs({"since": params["since"]} if params.get("since") else {})}"'
                  f'{" class=on" if href == path else ""}>{label}</a>' for href, label in NAV)
    picker = ""
    if ranges:
        current = params.get("since", "24h")
        picker = '<p class="ranges">Range: ' + "".join(
            f'<a href="{path}{_qs(params, since=key, offset=None)}"{" class=on" if key == current else ""}>{label}</a>'
            for key, label in RANGES) + "</p>"
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)} · LLM Observatory'
            f'</title><meta name="viewport" content="width=device-width,initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f'<style>{CSS}</style>'
            f'</head><body><header><b>LLM Observatory</b>{nav}</header><main><h1>{_e(title)}</h1>{picker}{body}'
            "</main></body></html>")


def _with_default_range(params: Mapping[str, str]) -> dict[str, str]:
    out = dict(params)
    out.setdefault("since", "24h")
    return out


# --- pages ----------------------------------------------------------------------------------------
def overview(store: Store, params: Mapping[str, str]) -> str:
    params = _with_default_range(params)
    data = _api.overview(store, params)
    t = data["totals"]
    cards = "".join(f'<div class="card"><div class="k">{label}</div>'
                    f'<div class="v">{_num(t[key], kind, key)}</div></div>'
                    for label, key, kind in (("Requests", "requests", "int"), ("Cost", "cost_usd", "usd"),
                                             ("Tokens", "total_tokens", "int"), ("Error rate", "error_rate", "pct"),
                                             ("p50 latency", "p50_ms", "ms"), ("p95 latency", "p95_ms", "ms"),
                                             ("p50 time to first token", "ttft_p50_ms", "ms")))

    def label(b: Any) -> str:
        return str(b)[:13].replace("T", " ") + ("h" if data["bucket"] == "hour" else "")
    series = data["series"]
    charts = (bar_chart([(label(p["bucket"]), p["requests"] or 0) for p in series], "Requests", "int")
              + bar_chart([(label(p["bucket"]), p["cost_usd"] or 0) for p in series], "Cost", "usd"))
    breakdowns = "".join(_breakdown(_api.usage(store, {**params, "group_by": g, "limit": "10"})["rows"], title, tid)
                         for g, title, tid in (("model", "By model", "by-model"), ("service", "By service",
                                                                                       "by-service"),
                                               ("user", "By user", "by-user")))
    latency = _api.latency(store, params)["rows"]
    lat_table = _table([("model", ""), ("requests", "n"), ("p50", "n"), ("p95", "n"), ("p99", "n"),
                        ("TTFT p50", "n"), ("TTFT p95", "n")],
                       [[_td(_e(r["model_name"])), _td(_num(r["requests"], "int"), True),
                         _td(_num(r["p50_ms"], "ms"), True), _td(_num(r["p95_ms"], "ms"), True),
                         _td(_num(r["p99_ms"], "ms"), True), _td(_num(r["ttft_p50_ms"], "ms"), True),
                         _td(_num(r["ttft_p95_ms"], "ms"), True)] for r in latency], "latency")
    body = (f'<div class="cards">{cards}</div><div class="grid">{charts}</div>'
            f'<div class="grid">{breakdowns}</div><h2>Latency by model</h2>{lat_table}')
    return _page("Overview", "/", params, body)


def traces(store: Store, params: Mapping[str, str]) -> str:
    params = _with_default_range(params)
    limit = int(params.get("limit") or 50)
    data = _api.traces(store, {**params, "limit": str(limit)})["traces"]
    fields = "".join(
        f'<label>{label} <input name="{name}" value="{_e(params.get(name, ""))}" size="12"></label>'
        for name, label in (("service", "service"), ("model", "model"), ("user", "user"), ("session", "session"),
                            ("min_cost", "min cost $"), ("min_duration_ms", "min ms")))
    status = params.get("status", "")
    sort = params.get("sort", "start_time")
    def options(values: Iterable[str], chosen: str) -> str:
        return "".join(f'<option value="{v}"{" selected" if chosen == v else ""}>{v}</option>' for v in values)
    selects = (f'<label>status <select name="status"><option value="">any</option>{options(("ok", "error"), status)}'
               f'</select></label><label>sort <select name="sort">{options(_api.SORTS, sort)}</select></label>')
    form = (f'<form class="filters" method="get" action="/traces"><input type="hidden" name="since" '
            f'value="{_e(params["since"])}">{fields}{selects}<button type="submit">Filter</button></form>')
    rows = [[_td(_trace_link(t["trace_id"])), _td(_e(t["root_name"])), _td(_e(t["service_name"])),
             _td(_e(str(t["start_time"])[:19].replace("T", " "))), _td(_num(t["duration_ms"], "ms"), True),
             _td(_num(t["span_count"], "int"), True), _td(_e(t["model_name"])),
             _td(_num(t["total_tokens"], "int"), True), _td(_num(t["cost_usd"], "usd"), True),
             _td('<span class="err">error</span>' if t["error"] else '<span class="ok">ok</span>'),
             _td(_e(t["user_id"]))] for t in data]
    table = _table([("trace", ""), ("root", ""), ("service", ""), ("start (UTC)", ""), ("duration", "n"),
                    ("spans", "n"), ("model", ""), ("tokens", "n"), ("cost", "n"), ("status", ""), ("user", "")],
                   rows, "traces")
    offset = int(params.get("offset") or 0)
    pager = ""
    if offset:
        pager += f'<a href="/traces{_qs(params, offset=max(0, offset - limit) or None)}">← newer</a> '
    if len(data) == limit:
        pager += f'<a href="/traces{_qs(params, offset=offset + limit)}">older →</a>'
    return _page("Traces", "/traces", params, f'{form}{table}<p>{pager}</p>')


def _messages(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    return raw if isinstance(raw, list) else []


def _chat(messages: list[dict[str, Any]]) -> str:
    out = []
    for m in messages:
        parts = []
        for p in m.get("parts") or []:
            if p.get("type") == "text":
                parts.append(_e(p.get("content")))
            elif p.get("type") == "tool_call":
                parts.append(f'→ {_e(p.get("name"))}({_e(json.dumps(p.get("arguments")))})')
            elif p.get("type") == "tool_call_response":
                parts.append(f'← {_e(json.dumps(p.get("response")))}')
            else:
                parts.append(f'[{_e(p.get("type"))}]')
        out.append(f'<div class="chat"><div class="r">{_e(m.get("role"))}</div>{"<br>".join(parts)}</div>')
    return "".join(out)


def trace(store: Store, trace_id: str) -> str | None:
    data = _api.trace(store, trace_id)
    if data is None:
        return None
    spans = data["spans"]
    starts = [dt.datetime.fromisoformat(s["start_time"]) for s in spans]
    t0 = min(starts)
    total = max((st - t0).total_seconds() * 1000 + (s["duration_ms"] or 0) for st, s in zip(starts, spans,
                                                                                             strict=True)) or 1.0
    children: dict[Any, list[int]] = {}
    ids = {s["span_id"] for s in spans}
    for i, s in enumerate(spans):
        parent = s["parent_span_id"] if s["parent_span_id"] in ids else None
        children.setdefault(parent, []).append(i)
    order: list[tuple[int, int]] = []

    def walk(parent: Any, depth: int) -> None:
        for i in children.get(parent, []):
            order.append((i, depth))
            walk(spans[i]["span_id"], depth + 1)
    walk(None, 0)
    rows: list[list[Cell]] = []
    calls: list[str] = []
    for i, depth in order:
        s, attrs = spans[i], spans[i]["attributes"] or {}
        left = (starts[i] - t0).total_seconds() * 1000 / total * 100
        width = max(0.5, (s["duration_ms"] or 0) / total * 100)
        error = s["status_code"] == 2
        model = attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model")
        tokens = attrs.get("gen_ai.usage.input_tokens"), attrs.get("gen_ai.usage.output_tokens")
        bar = (f'<div class="wf"><span class="{"e" if error else ""}" style="left:{left:.2f}%;width:{width:.2f}%">'
               "</span></div>")
        rows.append([_td(f'<span style="padding-left:{depth * 16}px">{_e(s["name"])}</span>'),
                     _td(_num(s["duration_ms"], "ms"), True), _td(bar)])
        if attrs.get("gen_ai.operation.name") in ("chat", "text_completion", "generate_content", "embeddings"):
            ttft = attrs.get("gen_ai.response.time_to_first_chunk")
            messages = _messages(attrs.get("gen_ai.input.messages")) + _messages(attrs.get("gen_ai.output.messages"))
            delegated = attrs.get("llm.inference.delegated_to")
            calls.append(
                f'<h2>{_e(s["name"])}</h2><p>model {_e(model)} · provider {_e(attrs.get("gen_ai.provider.name"))}'
                + (f" · counted on the {_e(delegated)} span beneath" if delegated else
                   f' · tokens {_num(tokens[0], "int")} in / {_num(tokens[1], "int")} out'
                   f' · cost {_num(attrs.get("llm.cost.usd"), "usd")}')
                + (f' · TTFT {_num(ttft * 1000, "ms")}' if isinstance(ttft, (int, float)) else "")
                + (f' · <span class="err">{_e(attrs.get("error.type"))}</span>' if error else "") + "</p>"
                + (_chat(messages) if messages else ""))
    summary = (f'<p>{_num(len(spans), "int", "span_count")} spans · {_num(total, "ms")} · '
               f'{_num(data["llm_calls"], "int", "llm_calls")} model calls · '
               f'{_num(data["total_tokens"], "int", "total_tokens")} tokens · '
               f'cost {_num(data["cost_usd"], "usd", "cost_usd")}</p>')
    waterfall = _table([("span", ""), ("duration", "n"), ("timeline", "")], rows, "waterfall")
    return _page(f"Trace {trace_id}", "/traces", {}, summary + waterfall + "".join(calls), ranges=False)


def cost(store: Store, params: Mapping[str, str]) -> str:
    params = _with_default_range(params)
    by_group = {g: _api.usage(store, {**params, "group_by": g, "limit": "20"})["rows"]
                for g in ("model", "service", "user", "day")}
    groups = "".join(_breakdown(by_group[g], title, tid)
                     for g, title, tid in (("model", "Spend by model", "cost-model"),
                                           ("service", "Spend by service", "cost-service"),
                                           ("user", "Spend by user", "cost-user"),
                                           ("day", "Spend by day", "cost-day")))
    top = _api.expensive(store, {**params, "limit": "15"})["rows"]
    expensive = _table([("when (UTC)", ""), ("trace", ""), ("service", ""), ("model", ""), ("user", ""),
                        ("tokens", "n"), ("cost", "n"), ("duration", "n")],
                       [[_td(_e(str(r["timestamp"])[:19].replace("T", " "))), _td(_trace_link(r["trace_id"])),
                         _td(_e(r["service_name"])), _td(_e(r["model_name"])), _td(_e(r["user_id"])),
                         _td(_num(r["total_tokens"], "int"), True), _td(_num(r["total_cost_usd"], "usd"), True),
                         _td(_num(r["duration_ms"], "ms"), True)] for r in top], "expensive")
    usage = {r["key"]: r for r in by_group["model"]}
    points = [(str(r["model_name"]), r["p50_ms"] or 0.0, (usage[r["model_name"]]["cost_usd"] or 0.0)
               / max(1, usage[r["model_name"]]["requests"]))
              for r in _api.latency(store, params)["rows"] if r["model_name"] in usage]
    body = (f"<h2>Most expensive requests</h2>{expensive}<h2>Cost per call against latency, by model</h2>"
            f'{scatter(points, "Cost per call vs p50 latency")}<div class="grid">{groups}</div>')
    return _page("Cost", "/cost", params, body)


def errors(store: Store, params: Mapping[str, str]) -> str:
    params = _with_default_range(params)
    data = _api.errors(store, params)
    by_type = _table([("provider", ""), ("model", ""), ("error.type", ""), ("errors", "n"), ("", "")],
                     [[_td(_e(r["provider"])), _td(_e(r["model_name"])), _td(f'<span class="err">{_e(r["error_code"])}'
                                                                             "</span>"),
                       _td(_num(r["errors"], "int"), True),
                       _td(f'<a href="/traces{_qs({"since": params["since"]}, status="error", model=r["model_name"])}">'
                           "traces</a>")] for r in data["errors"]], "errors")
    rates = _table([("model", ""), ("requests", "n"), ("errors", "n"), ("error rate", "n")],
                   [[_td(_e(r["model_name"])), _td(_num(r["requests"], "int"), True),
                     _td(_num(r["errors"], "int"), True), _td(_num(r["error_rate"], "pct"), True)]
                    for r in data["by_model"]], "error-rates")
    providers = _table([("provider", ""), ("requests", "n"), ("errors", "n"), ("error rate", "n")],
                       [[_td(_e(r["provider"])), _td(_num(r["requests"], "int"), True),
                         _td(_num(r["errors"], "int"), True), _td(_num(r["error_rate"], "pct"), True)]
                        for r in data["by_provider"]], "error-rates-provider")
    return _page("Errors", "/errors", params, f"<h2>By provider, model and type</h2>{by_type}"
                                               f'<div class="grid"><div><h2>Error rate by model</h2>{rates}</div>'
                                               f"<div><h2>Error rate by provider</h2>{providers}</div></div>")


def sessions(store: Store, params: Mapping[str, str]) -> str:
    params = _with_default_range(params)
    data = _api.sessions(store, {**params, "limit": "100"})["sessions"]
    table = _table([("session", ""), ("user", ""), ("calls", "n"), ("tokens", "n"), ("cost", "n"),
                    ("first (UTC)", ""), ("last (UTC)", "")],
                   [[_td(f'<a href="/sessions/{quote(str(r["session_id"]), safe="")}">{_e(r["session_id"])}</a>'),
                     _td(_e(r["user_id"])), _td(_num(r["requests"], "int"), True),
                     _td(_num(r["total_tokens"], "int"), True), _td(_num(r["cost_usd"], "usd"), True),
                     _td(_e(str(r["first_seen"])[:19].replace("T", " "))),
                     _td(_e(str(r["last_seen"])[:19].replace("T", " ")))] for r in data], "sessions")
    return _page("Sessions", "/sessions", params, table)


def session(store: Store, session_id: str) -> str:
    calls = _api.session(store, session_id)["calls"]
    table = _table([("when (UTC)", ""), ("trace", ""), ("model", ""), ("operation", ""), ("in", "n"), ("out", "n"),
                    ("cost", "n"), ("duration", "n"), ("TTFT", "n"), ("error", "")],
                   [[_td(_e(str(c["timestamp"])[:23].replace("T", " "))), _td(_trace_link(c["trace_id"])),
                     _td(_e(c["model_name"])), _td(_e(c["operation"])), _td(_num(c["prompt_tokens"], "int"), True),
                     _td(_num(c["completion_tokens"], "int"), True), _td(_num(c["total_cost_usd"], "usd"), True),
                     _td(_num(c["duration_ms"], "ms"), True), _td(_num(c["ttft_ms"], "ms"), True),
                     _td(f'<span class="err">{_e(c["error_code"])}</span>' if c["error_code"] else "")]
                    for c in calls], "session-calls")
    return _page(f"Session {session_id}", "/sessions", {}, f"<p>{len(calls)} model calls, in order.</p>{table}",
                 ranges=False)
