"""An offline stand-in for the OpenAI API, so the examples run with no network and no key.

It answers chat completions (plain, streamed, with tool calls) in the API's real wire format,
through the SDK's own HTTP client hook (``http_client=``). Nothing else in the examples is fake.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import openai._base_client as _base_client

httpx: Any = getattr(_base_client, "httpx2", None) or _base_client.httpx


def _reply(body: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    last = body["messages"][-1]
    if body.get("tools") and last["role"] == "user":
        order = last["content"].split()[-1].rstrip("?")
        return None, [{"id": "call_1", "type": "function",
                       "function": {"name": "lookup_order", "arguments": json.dumps({"order_id": order})}}]
    if last["role"] == "tool":
        return f"Good news: your order is {json.loads(last['content'])['status']}.", []
    for msg in body["messages"]:  # a RAG prompt: answer from the first line of its context
        text = str(msg.get("content") or "")
        for marker in ("Context:", "---------------------"):
            if marker in text:
                context = [line for line in text.split(marker, 1)[1].splitlines() if line.strip()
                           and ":" not in line[:12]]
                if context:
                    return f"According to our handbook: {context[0].strip()}", []
    return "Hello! How can I help with your order today?", []


def _handle(request: Any) -> Any:
    body = json.loads(request.content)
    text, calls = _reply(body)
    base = {"id": "chatcmpl-offline-1", "created": 1731368639, "model": "gpt-4o-mini-2024-07-18",
            "system_fingerprint": "fp_offline"}
    prompt_tokens = 20 + 5 * len(body["messages"])
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 12, "total_tokens": prompt_tokens + 12,
             "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}
    reason = "tool_calls" if calls else "stop"
    if not body.get("stream"):
        message = {"role": "assistant", "content": text, "refusal": None, **({"tool_calls": calls} if calls else {})}
        return httpx.Response(200, json={**base, "object": "chat.completion", "usage": usage,
                                         "choices": [{"index": 0, "message": message, "finish_reason": reason}]})
    events = [{"role": "assistant", "content": ""}] + [{"content": w + " "} for w in (text or "").split()]
    chunks = [{**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d, "finish_reason": None}]}
              for d in events]
    last = {"index": 0, "delta": {}, "finish_reason": reason}
    chunks.append({**base, "object": "chat.completion.chunk", "choices": [last]})
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    sse = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse.encode())


def offline_http_client() -> Any:
    """The HTTP client to give an OpenAI client (or LangChain's ``ChatOpenAI``): answered locally."""
    return httpx.Client(transport=httpx.MockTransport(_handle))


def offline_client() -> openai.OpenAI:
    """An ``openai.OpenAI`` client whose requests are answered locally."""
    return openai.OpenAI(api_key="sk-offline-example", http_client=offline_http_client())
