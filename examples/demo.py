"""The demo: a small support bot, instrumented, running offline, into the embedded store.

Run it with ``python3 -m nox -s demo`` (or ``python examples/demo.py``). It starts the reference
collector in-process (OTLP/HTTP on a free port, DuckDB in ``.demo/llm-observatory.duckdb``), runs
the bot with its telemetry exported there over OTLP, prints each trace (the agent, its tool call,
its model calls with tokens, time to first token and cost), and then the cost and latency report
from the store. The OpenAI API is answered locally (see _offline_openai.py); everything else is
the real SDK. Without the collector's extras installed, it prints the traces only.
"""

from __future__ import annotations

import json
import os
from typing import Any

import llm_observatory as observatory

STORE = os.environ.get("LLM_OBSERVATORY_DEMO_STORE") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".demo", "llm-observatory.duckdb"))


def start_collector() -> Any:
    try:
        from llm_observatory.collector import Collector, CollectorConfig
        os.makedirs(os.path.dirname(STORE), exist_ok=True)
        return Collector(CollectorConfig(http_port=0, grpc_port=-1, db_path=STORE)).start()
    except ImportError as exc:
        print(f"(no embedded store: {exc}; install llm-observatory[collector] to store the traces)")
        return None


collector = start_collector()
if collector is not None:
    print(collector.describe(), "\n")
    observatory.init(service_name="support-bot", exporter=("console", "otlp"),
                     endpoint=f"http://127.0.0.1:{collector.http_port}", metrics=True, logs=False)
else:
    observatory.init(service_name="support-bot", exporter="console", metrics=False, logs=False)

from _offline_openai import offline_client  # noqa: E402  (after init, like any app)

client = offline_client()
ORDERS = {"A-1001": "shipped", "A-1002": "processing"}
TOOLS = [{"type": "function", "function": {"name": "lookup_order", "description": "Find an order's status",
                                           "parameters": {"type": "object",
                                                          "properties": {"order_id": {"type": "string"}}}}}]


@observatory.tool
def lookup_order(order_id: str) -> dict[str, str]:
    return {"order_id": order_id, "status": ORDERS.get(order_id, "unknown")}


@observatory.agent(name="support-agent")
def support_agent(question: str) -> str:
    messages: list[dict[str, object]] = [{"role": "system", "content": "You answer order questions."},
                                         {"role": "user", "content": question}]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    result = lookup_order(**json.loads(call.function.arguments))
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}]
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                            stream_options={"include_usage": True})
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


if __name__ == "__main__":
    for i, question in enumerate(["Where is order A-1001?", "Where is order A-1002?"]):
        with observatory.session(f"session-{i}"), observatory.user("demo-user"):
            print(support_agent(question))
    observatory.shutdown()  # exports what is left to the collector
    if collector is not None:
        collector.stop()  # stores everything it acknowledged
        from llm_observatory.cli import main as cli
        from llm_observatory.collector import open_store
        print(f"\nFrom the store ({STORE}):\n")
        cli(["report", "--db", STORE])
        store = open_store(db_path=STORE)
        stored = store.query("SELECT count(*) FROM llm_metrics")[1][0][0]
        store.close()
        if not stored:
            raise SystemExit("the demo's model calls did not reach the store")
