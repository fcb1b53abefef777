"""Anthropic, instrumented: tool use, then a streamed answer through messages.stream(). Offline.

Run: ``python examples/anthropic_tools.py``. The trace shows the agent, the tool, and two model
calls with their cache-inclusive input tokens, TTFT for the stream, and cost at Claude's cache
prices: the first call writes the system prompt to the cache for an hour
(``llm.usage.cache_write_1h.input_tokens``, priced at the 1-hour write rate), the second reads it.
"""

from __future__ import annotations

import llm_observatory as observatory

observatory.init(service_name="anthropic-example", exporter="console", metrics=False, logs=False)

from _offline_anthropic import MODEL, offline_client  # noqa: E402

client = offline_client()
TOOLS = [{"name": "get_weather", "description": "Current weather in a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
#: A long, stable system prompt, cached for an hour (kept for the whole agent run and the next ones).
SYSTEM = [{"type": "text", "text": "You are a concise weather assistant. " * 40,
           "cache_control": {"type": "ephemeral", "ttl": "1h"}}]


@observatory.tool
def get_weather(city: str) -> str:
    return f"sunny, 21 °C in {city}"


@observatory.agent(name="weather-agent")
def ask(question: str) -> str:
    messages: list[dict[str, object]] = [{"role": "user", "content": question}]
    first = client.messages.create(model=MODEL, max_tokens=300, system=SYSTEM, messages=messages, tools=TOOLS)
    call = next(block for block in first.content if block.type == "tool_use")
    messages += [{"role": "assistant", "content": first.content},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                               "content": get_weather(**call.input)}]}]
    with client.messages.stream(model=MODEL, max_tokens=300, system=SYSTEM, messages=messages,
                                tools=TOOLS) as stream:
        return "".join(stream.text_stream)


if __name__ == "__main__":
    print(ask("What's the weather in Lisbon?"))
    observatory.shutdown()
