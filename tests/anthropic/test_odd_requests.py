"""Odd arguments to the Messages API: one field dropped, nulled or of another type.

As for OpenAI (see ``tests/openai/test_odd_requests.py``): the same call with the same odd
arguments, with and without the instrumentation, gives the same outcome and sends the same
request; the instrumented call makes its one span, and the instrumentation does not fail inside.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests._odd import odd_request_failures

from .conftest import make_client
from .fake_anthropic import FakeAnthropic

SEEDS = range(150)
MODEL = "claude-sonnet-4-20250514"
MESSAGES = [
    {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"},
                                 {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                              "data": "iVBORw0KGgo="}}]},
    {"role": "assistant", "content": [{"type": "thinking", "thinking": "Ask the tool.", "signature": "sig"},
                                      {"type": "tool_use", "id": "toolu_1", "name": "weather",
                                       "input": {"city": "Paris"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                  "content": [{"type": "text", "text": "sunny"}]}]},
]
REQUEST = {
    "model": MODEL, "max_tokens": 100, "messages": MESSAGES,
    "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
    "tools": [{"name": "weather", "description": "The weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}}}}],
    "temperature": 0.3, "top_p": 0.9, "top_k": 40, "stop_sequences": ["END"], "metadata": {"user_id": "u-1"},
}

CALLS: list[tuple[str, Any, dict[str, Any], Any]] = [
    ("create", lambda c: c.messages.create, REQUEST, lambda r: r),
    ("stream", lambda c: c.messages.create, {**REQUEST, "stream": True}, list),
    ("count", lambda c: (c.messages if hasattr(c.messages, "count_tokens") else c.beta.messages).count_tokens,
     {k: REQUEST[k] for k in ("model", "messages", "system", "tools")}, lambda r: r),
]


@pytest.mark.parametrize("content", [False, True], ids=["content-off", "content-on"])
@pytest.mark.parametrize(("name", "method", "kwargs", "read"), CALLS, ids=[c[0] for c in CALLS])
def test_odd_arguments_give_the_same_outcome_and_request_and_one_span(
        name: str, method: Any, kwargs: dict[str, Any], read: Any, content: bool, instrumented: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    failures = odd_request_failures(method, kwargs, FakeAnthropic, make_client, instrumented, caplog, SEEDS,
                                    content, read)
    assert not failures, "\n".join(failures)
