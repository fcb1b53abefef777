"""Odd arguments: a call's arguments with one field dropped, nulled or of another type.

What an application passes is read for attributes (and content, when captured) before the SDK
sees it. Each case runs the same call with the same odd arguments with and without the
instrumentation: the outcome (value or exception) and the requests sent must be the same, the
call must make its one span, and the instrumentation must not fail inside (see ``tests/_odd.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests._odd import odd_request_failures

from .conftest import make_client
from .fake_openai import FakeOpenAI

SEEDS = range(150)
TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look an order up", "parameters": {
    "type": "object", "properties": {"order": {"type": "integer"}}, "required": ["order"]}}}

CALLS: list[tuple[str, Any, dict[str, Any], Any]] = [
    ("chat", lambda c: c.chat.completions.create, {
        "model": "gpt-4o-mini", "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"order": 7}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "shipped"}],
        "tools": [TOOL], "temperature": 0.2, "top_p": 0.9, "max_tokens": 50, "n": 1, "seed": 7, "stop": ["\n"],
        "presence_penalty": 0.1, "frequency_penalty": 0.1, "response_format": {"type": "json_object"},
        "service_tier": "auto", "user": "u-1"}, lambda r: r),
    ("stream", lambda c: c.chat.completions.create, {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say this is a test"}], "stream": True,
        "stream_options": {"include_usage": True}, "n": 1, "max_completion_tokens": 20, "tools": [TOOL],
        "reasoning_effort": "low"}, list),
    ("responses", lambda c: c.responses.create, {
        "model": "gpt-4o-mini", "instructions": "Be brief.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                  {"type": "function_call_output", "call_id": "call_1", "output": "shipped"}],
        "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
        "reasoning": {"effort": "low"}, "max_output_tokens": 100, "temperature": 0.5,
        "text": {"format": {"type": "text"}}}, lambda r: r),
    ("embeddings", lambda c: c.embeddings.create, {
        "model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 256, "encoding_format": "float"},
     lambda r: r),
    ("completions", lambda c: c.completions.create, {
        "model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 5, "temperature": 0}, lambda r: r),
]


@pytest.mark.parametrize("content", [False, True], ids=["content-off", "content-on"])
@pytest.mark.parametrize(("name", "method", "kwargs", "read"), CALLS, ids=[c[0] for c in CALLS])
def test_odd_arguments_give_the_same_outcome_and_request_and_one_span(
        name: str, method: Any, kwargs: dict[str, Any], read: Any, content: bool, instrumented: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    failures = odd_request_failures(method, kwargs, FakeOpenAI, make_client, instrumented, caplog, SEEDS, content,
                                    read)
    assert not failures, "\n".join(failures)
