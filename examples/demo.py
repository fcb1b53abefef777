"""The demo: a small support bot, instrumented, running offline; it prints its traces.

Run it with ``python3 -m nox -s demo`` (or ``python examples/demo.py``). Each trace shows the
agent, its tool call and its model calls with tokens, time to first token and cost. The OpenAI
API is answered locally (see _offline_openai.py); everything else is the real SDK.
"""

from __future__ import annotations

import json

import llm_observatory as observatory

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
    observatory.shutdown()
