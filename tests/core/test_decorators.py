"""Decorators on every kind of function: spans, parents, errors, content, generators."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from opentelemetry import trace

import llm_observatory as observatory
from llm_observatory.testing import Capture, capture


@observatory.tool
def add(a: int, b: int) -> int:
    return a + b


@observatory.workflow(name="pipeline")
def pipeline(x: int) -> int:
    return add(x, 1) * 2


@observatory.agent
async def researcher(topic: str) -> str:
    await asyncio.sleep(0)
    return f"notes on {topic}"


@observatory.task
def numbers(n: int):  # type: ignore[no-untyped-def]
    yield from range(n)


@observatory.observe(name="stream_words", kind="task")
async def words(text: str):  # type: ignore[no-untyped-def]
    for w in text.split():
        await asyncio.sleep(0)
        yield w


class Service:
    @observatory.task
    def method(self, value: str) -> str:
        return value.upper()

    @observatory.tool(name="lookup")
    async def amethod(self, key: str) -> str:
        return key * 2


def test_sync_function_spans_and_parents(cap: Capture) -> None:
    assert pipeline(3) == 8
    snap = cap.snapshot()
    assert [(s["name"], s["kind"], s["parent_id"]) for s in snap] == [
        ("invoke_workflow pipeline", "INTERNAL", None),
        ("execute_tool add", "INTERNAL", snap[0]["span_id"]),
    ]
    assert snap[0]["attributes"] == {
        "llm.span.kind": "workflow", "gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "pipeline"
    }
    assert snap[1]["attributes"] == {
        "llm.span.kind": "tool", "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "add",
        "gen_ai.tool.type": "function",
    }
    m = cap.metrics()
    assert m["gen_ai.execute_tool.duration"][0]["attributes"]["gen_ai.tool.name"] == "add"
    assert m["gen_ai.invoke_workflow.duration"][0]["count"] == 1


async def test_async_function_and_methods(cap: Capture) -> None:
    assert await researcher("otel") == "notes on otel"
    assert Service().method("x") == "X"
    assert await Service().amethod("k") == "kk"
    assert [s.name for s in cap.spans()] == ["invoke_agent researcher", "Service.method", "execute_tool lookup"]
    assert cap.metrics()["gen_ai.invoke_agent.duration"][0]["attributes"]["gen_ai.agent.name"] == "researcher"


def test_exceptions_are_recorded_and_reraised(cap: Capture) -> None:
    @observatory.tool
    def broken() -> None:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        broken()
    span = cap.span("execute_tool broken")
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "ValueError"
    assert [e.name for e in span.events] == ["exception"]
    metric = cap.metrics()["gen_ai.execute_tool.duration"][0]
    assert metric["attributes"]["error.type"] == "ValueError"


def test_generator_span_covers_iteration_and_is_not_current_after_yield(cap: Capture) -> None:
    gen = numbers(3)
    assert cap.spans() == []
    first = next(gen)
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert [first, *gen] == [0, 1, 2]
    span = cap.span("numbers")
    assert span.status.status_code.name == "UNSET"


def test_generator_closed_early_and_gc(cap: Capture) -> None:
    gen = numbers(5)
    next(gen)
    gen.close()
    gen2 = numbers(5)
    next(gen2)
    del gen2
    gc.collect()
    assert [s.name for s in cap.spans()] == ["numbers", "numbers"]


def test_generator_send_and_throw_are_forwarded(cap: Capture) -> None:
    @observatory.task
    def echo():  # type: ignore[no-untyped-def]
        received = []
        try:
            while True:
                received.append((yield len(received)))
        except KeyError:
            yield received

    gen = echo()
    assert next(gen) == 0
    assert gen.send("a") == 1
    assert gen.throw(KeyError("stop")) == ["a"]
    with pytest.raises(StopIteration):
        next(gen)
    assert cap.span("echo").status.status_code.name == "UNSET"


def test_generator_error_is_recorded(cap: Capture) -> None:
    @observatory.task(name="failing_gen")
    def failing():  # type: ignore[no-untyped-def]
        yield 1
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        list(failing())
    assert cap.span("failing_gen").attributes["error.type"] == "RuntimeError"


async def test_async_generator(cap: Capture) -> None:
    out = [w async for w in words("a b c")]
    assert out == ["a", "b", "c"]
    agen = words("x y z")
    assert await agen.__anext__() == "x"
    assert trace.get_current_span() is trace.INVALID_SPAN
    await agen.aclose()
    assert [s.name for s in cap.spans()] == ["stream_words", "stream_words"]


def test_children_of_generator_are_parented_to_it(cap: Capture) -> None:
    @observatory.task(name="producer")
    def producer():  # type: ignore[no-untyped-def]
        for i in range(2):
            yield add(i, i)

    assert list(producer()) == [0, 2]
    snap = {s["name"]: s for s in cap.snapshot()}
    producer_id = snap["producer"]["span_id"]
    assert [s["parent_id"] for s in cap.snapshot() if s["name"] == "execute_tool add"] == [producer_id, producer_id]


def test_content_capture_off_by_default(cap: Capture) -> None:
    add(40, 2)
    assert "gen_ai.tool.call.arguments" not in cap.span("execute_tool add").attributes


def test_content_capture_on_records_inputs_and_outputs() -> None:
    with capture(capture_content=True, max_content_length=64) as cap:
        add(40, 2)
        Service().method("hello")

        @observatory.task
        def big(text: str) -> dict[str, Any]:
            return {"echo": text}

        big("x" * 500)
    tool = cap.span("execute_tool add").attributes
    assert tool["gen_ai.tool.call.arguments"] == '{"a":40,"b":2}'
    assert tool["gen_ai.tool.call.result"] == "42"
    assert cap.span("Service.method").attributes["llm.input"] == '{"value":"hello"}'
    big_span = cap.span("big").attributes
    assert len(big_span["llm.input"]) <= 64 and big_span["llm.input"].endswith('…[truncated]"}')
    assert big_span["llm.output"].startswith('{"echo":"xxx')


def test_per_function_capture_override(cap: Capture) -> None:
    @observatory.tool(capture_input=True, capture_output=False)
    def lookup(q: str) -> str:
        return "result"

    lookup("query")
    attrs = cap.span("execute_tool lookup").attributes
    assert attrs["gen_ai.tool.call.arguments"] == '{"q":"query"}'
    assert "gen_ai.tool.call.result" not in attrs


def test_decorated_functions_keep_their_identity() -> None:
    import inspect

    assert pipeline.__name__ == "pipeline"
    assert inspect.iscoroutinefunction(researcher)
    assert inspect.isgeneratorfunction(numbers)
    assert inspect.isasyncgenfunction(words)
