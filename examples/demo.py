"""The demo: a small support bot, instrumented, running offline; prints its traces.

Run it with ``python -m nox -s demo`` (or ``python examples/demo.py``).
"""

from __future__ import annotations

import llm_observatory as observatory

observatory.init(service_name="support-bot", exporter="console", metrics=False, logs=False)

ORDERS = {"A-1001": "shipped", "A-1002": "processing"}


@observatory.tool
def lookup_order(order_id: str) -> str:
    return ORDERS.get(order_id, "unknown")


@observatory.task
def draft_reply(order_id: str, status: str) -> str:
    return f"Order {order_id} is {status}."


@observatory.agent(name="support-agent")
def support_agent(question: str) -> str:
    order_id = question.split()[-1].rstrip("?")
    return draft_reply(order_id, lookup_order(order_id))


if __name__ == "__main__":
    for i, question in enumerate(["Where is order A-1001?", "Where is order A-1002?"]):
        with observatory.session(f"session-{i}"), observatory.user("demo-user"):
            print(support_agent(question))
    observatory.shutdown()
