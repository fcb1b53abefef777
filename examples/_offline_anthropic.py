"""An offline stand-in for the Anthropic API, so the examples run with no network and no key.

It answers ``messages`` (plain and streamed, with tool use) in the API's real wire format,
through the SDK's own HTTP client hook (``http_client=``). Nothing else in the examples is fake.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import anthropic._base_client as _base_client

httpx: Any = getattr(_base_client, "httpx2", None) or _base_client.httpx
MODEL = "claude-sonnet-4-20250514"


#: Whether the system prompt marked for caching was written to the cache (by the first request).
_cached: set[str] = set()


def _handle(request: Any) -> Any:
    body = json.loads(request.content)
    last = body["messages"][-1]
    # a system block with cache_control is written to the cache by the first request (for an hour
    # with "ttl": "1h"), then read by the next ones, as the API reports it
    system = [b for b in body.get("system") or () if isinstance(b, dict) and b.get("cache_control")]
    prefix = 1200 if system else 0
    one_hour = bool(system) and system[0]["cache_control"].get("ttl") == "1h"
    key = json.dumps(system)
    written = prefix if system and key not in _cached else 0
    _cached.add(key)
    usage = {"input_tokens": 40 + 10 * len(body["messages"]), "cache_read_input_tokens": prefix - written,
             "cache_creation_input_tokens": written, "output_tokens": 18,
             "cache_creation": {"ephemeral_5m_input_tokens": 0 if one_hour else written,
                                "ephemeral_1h_input_tokens": written if one_hour else 0}}
    wants_tool = body.get("tools") and isinstance(last["content"], str)
    if wants_tool:
        city = last["content"].split()[-1].rstrip("?")
        content: list[dict[str, Any]] = [{"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                                          "input": {"city": city}}]
        stop = "tool_use"
    else:
        content = [{"type": "text", "text": "It is sunny and 21 °C there. Enjoy your walk!"}]
        stop = "end_turn"
    message = {"id": "msg_offline", "type": "message", "role": "assistant", "model": MODEL, "content": content,
               "stop_reason": stop, "stop_sequence": None, "usage": usage}
    if not body.get("stream"):
        return httpx.Response(200, json=message)
    events: list[dict[str, Any]] = [{"type": "message_start", "message": {**message, "content": [],
                                                                          "stop_reason": None}}]
    for i, block in enumerate(content):
        if block["type"] == "text":
            events.append({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}})
            events += [{"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": w + " "}}
                       for w in block["text"].split()]
        else:
            events.append({"type": "content_block_start", "index": i, "content_block": {**block, "input": {}}})
            events.append({"type": "content_block_delta", "index": i,
                           "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}})
        events.append({"type": "content_block_stop", "index": i})
    events += [{"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 18}},
               {"type": "message_stop"}]
    sse = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse.encode())


def offline_client() -> anthropic.Anthropic:
    """An ``anthropic.Anthropic`` client whose requests are answered locally."""
    return anthropic.Anthropic(api_key="sk-ant-offline-example",
                               http_client=httpx.Client(transport=httpx.MockTransport(_handle)))
