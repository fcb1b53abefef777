"""Zero-code: run with ``opentelemetry-instrument python examples/zero_code.py``.

No ``init()`` here: the ``llm_observatory`` distro and configurator set everything up from the
environment (``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``LLM_OBSERVATORY_*``).
Works offline: with no collector listening, one warning says telemetry is being dropped.
"""

import llm_observatory as observatory


@observatory.tool
def lookup_order(order_id: str) -> dict[str, str]:
    return {"order_id": order_id, "status": "shipped"}


@observatory.agent
def support_agent(question: str) -> str:
    order = lookup_order("A-1001")
    return f"Your order {order['order_id']} has {order['status']}."


if __name__ == "__main__":
    with observatory.session("session-1"):
        print(support_agent("Where is my order?"))
