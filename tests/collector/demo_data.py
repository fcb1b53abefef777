"""A realistic, seeded demo dataset: a week of agent traces (agent → model → tool → model), three
services, four models, users in sessions, streamed calls with TTFT, captured messages, errors."""

from __future__ import annotations

import json
import random
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

MODELS = [  # (model, provider, $ per 1k input, $ per 1k output, typical ms)
    ("gpt-4o-mini", "openai", 0.00015, 0.0006, 600),
    ("gpt-4-turbo", "openai", 0.01, 0.03, 1800),
    ("claude-3-opus-20240229", "anthropic", 0.015, 0.075, 2400),
    ("claude-3-5-haiku-20241022", "anthropic", 0.0008, 0.004, 700),
]
SERVICES = ["support-bot", "rag-service", "summarizer"]
HOUR_NS = 3600 * 10**9


def _value(v: Any) -> common_pb2.AnyValue:
    if isinstance(v, bool):
        return common_pb2.AnyValue(bool_value=v)
    if isinstance(v, int):
        return common_pb2.AnyValue(int_value=v)
    if isinstance(v, float):
        return common_pb2.AnyValue(double_value=v)
    return common_pb2.AnyValue(string_value=str(v))


def _span(ss: Any, trace_id: bytes, parent: bytes | None, name: str, kind: int, start: int, ms: float,
          attrs: dict[str, Any], rng: random.Random, error: bool = False) -> bytes:
    span_id = rng.randbytes(8)
    s = ss.spans.add(trace_id=trace_id, span_id=span_id, name=name, kind=kind, start_time_unix_nano=start,
                     end_time_unix_nano=start + int(ms * 1e6))
    if parent:
        s.parent_span_id = parent
    for key, value in attrs.items():
        s.attributes.add(key=key, value=_value(value))
    if error:
        s.status.code = 2
    return span_id


def requests(traces: int = 300, seed: int = 7, now_ns: int | None = None) -> list[bytes]:
    """OTLP/protobuf requests (one per service) holding ``traces`` agent traces over the last 7 days."""
    rng = random.Random(seed)
    now = now_ns or time.time_ns()
    by_service: dict[str, trace_service_pb2.ExportTraceServiceRequest] = {}
    for i in range(traces):
        service = SERVICES[i % len(SERVICES)]
        if service not in by_service:
            req = trace_service_pb2.ExportTraceServiceRequest()
            rs = req.resource_spans.add()
            rs.resource.attributes.add(key="service.name", value=_value(service))
            rs.scope_spans.add().scope.name = "llm_observatory"
            by_service[service] = req
        ss = by_service[service].resource_spans[0].scope_spans[0]
        model, provider, p_in, p_out, typical = MODELS[rng.randrange(len(MODELS))]
        user = f"user-{rng.randrange(12):02d}"
        session = f"{user}-s{rng.randrange(3)}"
        start = now - rng.randrange(7 * 24) * HOUR_NS - rng.randrange(HOUR_NS)
        trace_id = rng.randbytes(16)
        failed = rng.random() < 0.06
        common = {"user.id": user, "session.id": session}
        root_index = len(ss.spans)
        root = _span(ss, trace_id, None, "invoke_agent support-agent", 1, start, 0, {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support-agent", **common}, rng, failed)
        t, total = start + 1_000_000, 1.0
        question = rng.choice(["Where is order A-1001?", "Can I return shoes?", "Do you ship to Canada?"])
        for step in range(2):
            streamed = step == 1
            ms = max(50.0, rng.gauss(typical, typical * 0.3))
            tokens_in, tokens_out = rng.randrange(200, 1500), rng.randrange(20, 400)
            attrs: dict[str, Any] = {
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model,
                "gen_ai.response.model": model, "gen_ai.usage.input_tokens": tokens_in,
                "gen_ai.usage.output_tokens": tokens_out,
                "llm.cost.usd": round(tokens_in / 1000 * p_in + tokens_out / 1000 * p_out, 8), **common,
                "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text",
                                                                                 "content": question}]}]),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "finish_reason": "stop", "parts": [
                    {"type": "text", "content": "Let me check that for you." if step == 0
                     else "Good news: it is on its way."}]}]),
            }
            if streamed:
                attrs["gen_ai.response.time_to_first_chunk"] = round(ms / 1000 * rng.uniform(0.15, 0.35), 4)
            error = failed and step == 1
            if error:
                attrs["error.type"] = "openai.RateLimitError" if provider == "openai" else "anthropic.APITimeoutError"
            _span(ss, trace_id, root, f"chat {model}", 3, t, ms, attrs, rng, error)
            t += int(ms * 1e6)
            total += ms
            if step == 0:
                tool_ms = rng.uniform(5, 80)
                _span(ss, trace_id, root, "execute_tool lookup_order", 1, t, tool_ms, {
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order", **common}, rng)
                t += int(tool_ms * 1e6)
                total += tool_ms
        ss.spans[root_index].end_time_unix_nano = start + int((total + 1) * 1e6)
    return [r.SerializeToString() for r in by_service.values()]
