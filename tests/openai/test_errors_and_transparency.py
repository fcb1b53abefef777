"""Errors, retries, differential transparency, concurrency and sampling for the OpenAI adapter."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import llm_observatory as observatory
from llm_observatory.testing import capture
from tests._sdk_state import check_uninstrument_restores

from .conftest import MESSAGES, make_client
from .fake_openai import FakeOpenAI, httpx


@pytest.mark.parametrize(("status", "error"), [
    (400, openai.BadRequestError), (401, openai.AuthenticationError), (404, openai.NotFoundError),
    (429, openai.RateLimitError), (500, openai.InternalServerError),
])
def test_http_errors(status: int, error: type[Exception]) -> None:
    fake = FakeOpenAI(fail_status=status)
    with capture() as cap, pytest.raises(error) as info:
        make_client(fake).chat.completions.create(model="gpt-nope", messages=MESSAGES)
    span = cap.spans()[0]
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == f"openai.{error.__name__}"
    assert str(info.value) in span.status.description
    duration = cap.metrics()["gen_ai.client.operation.duration"][0]
    assert duration["attributes"]["error.type"] == f"openai.{error.__name__}"
    assert "gen_ai.client.token.usage" not in cap.metrics()


def test_sdk_retries_make_one_span(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeOpenAI(fail_status=429, fail_times=2)
    client = make_client(fake, max_retries=2)
    monkeypatch.setattr(client, "_calculate_retry_timeout", lambda *a, **k: 0.0)
    with capture() as cap:
        result = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert result.choices[0].message.content == "This is a test."
    assert len(fake.requests) == 3
    (span,) = cap.spans()
    assert span.status.status_code.name == "UNSET"


def test_connection_error_and_timeout() -> None:
    def refuse(request: Any) -> Any:
        raise httpx.ConnectError("connection refused")

    def slow(request: Any) -> Any:
        raise httpx.ReadTimeout("timed out")

    for handler, error in ((refuse, openai.APIConnectionError), (slow, openai.APITimeoutError)):
        client = openai.OpenAI(api_key="k", max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
        with capture() as cap, pytest.raises(error):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert cap.spans()[0].attributes["error.type"] == f"openai.{error.__name__}"


def _scenarios() -> list[tuple[str, Callable[[Any], Any]]]:
    return [
        ("chat", lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, n=2, seed=1)),
        ("stream", lambda c: list(c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                            stream_options={"include_usage": True}))),
        ("raw", lambda c: c.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES).parse()),
        ("responses", lambda c: c.responses.create(model="gpt-4o-mini", input="hi", instructions="be brief")),
        ("responses-stream", lambda c: list(c.responses.create(model="gpt-4o-mini", input="hi", stream=True))),
        ("embeddings", lambda c: c.embeddings.create(model="text-embedding-3-small", input=["a", "b"])),
        ("completions", lambda c: c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")),
        ("retrieve", lambda c: c.responses.retrieve("resp_123")),
    ]


def _dump(value: Any) -> Any:
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return (type(value), value.model_dump())


@pytest.mark.parametrize(("name", "call"), _scenarios(), ids=[n for n, _ in _scenarios()])
def test_same_results_with_and_without_instrumentation(name: str, call: Callable[[Any], Any],
                                                       instrumented: Any) -> None:
    with capture() as cap:
        traced = call(make_client(FakeOpenAI()))
    assert cap.spans(), "the instrumented call made a span"
    instrumented.uninstrument()
    try:
        plain = call(make_client(FakeOpenAI()))
    finally:
        instrumented.instrument()
    assert _dump(traced) == _dump(plain)


def test_uninstrument_puts_back_every_sdk_attribute(instrumented: Any) -> None:
    """After ``uninstrument()`` every attribute of openai's modules and classes is the object it
    was before ``instrument()``: nothing of ours is left on the SDK (nothing renamed, added or
    still wrapped), and instrumenting again wraps the same methods again."""
    client = make_client(FakeOpenAI())
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    for resource in ("responses", "embeddings", "completions"):
        getattr(client, resource)  # the SDK imports a resource's module on first use
    check_uninstrument_restores(instrumented, "openai", {"Completions.create", "AsyncCompletions.create",
                                                         "Responses.create", "Embeddings.create"})


def _one_shot_scenarios() -> list[tuple[str, Callable[[Any], Any]]]:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    return [
        ("chat", lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=iter(MESSAGES),
                                                     tools=(t for t in [tool]))),
        ("stream", lambda c: list(c.chat.completions.create(model="gpt-4o-mini", messages=iter(MESSAGES),
                                                            stream=True))),
        ("responses-stream", lambda c: list(c.responses.create(
            model="gpt-4o-mini", input="hi", stream=True, tools=iter([{"type": "function", "name": "f"}])))),
        ("completions-stream", lambda c: list(c.completions.create(model="gpt-3.5-turbo-instruct",
                                                                   prompt=iter([1, 2, 3]), stream=True))),
    ]


@pytest.mark.parametrize("content", [False, True], ids=["content off", "content on"])
@pytest.mark.parametrize(("name", "call"), _one_shot_scenarios(), ids=[n for n, _ in _one_shot_scenarios()])
def test_one_shot_iterators_reach_the_sdk_unread(name: str, call: Callable[[Any], Any], content: bool,
                                                  instrumented: Any) -> None:
    """Messages, tools or a prompt given as a generator are the SDK's to read: reading them first
    would send an empty list. The request sent is the same with and without instrumentation."""
    traced_fake, plain_fake = FakeOpenAI(), FakeOpenAI()
    with capture(capture_content=content) as cap:
        call(make_client(traced_fake))
    assert len(cap.spans()) == 1
    instrumented.uninstrument()
    try:
        call(make_client(plain_fake))
    finally:
        instrumented.instrument()
    assert [r["body"] for r in traced_fake.requests] == [r["body"] for r in plain_fake.requests]
    assert any(traced_fake.requests[0]["body"].get(k) for k in ("messages", "tools", "prompt"))


@pytest.mark.parametrize("status", [404, 429])
def test_same_exception_with_and_without_instrumentation(status: int, instrumented: Any) -> None:
    def fail() -> BaseException:
        with pytest.raises(openai.APIStatusError) as info:
            make_client(FakeOpenAI(fail_status=status)).chat.completions.create(model="m", messages=MESSAGES)
        return info.value

    with capture():
        traced = fail()
    instrumented.uninstrument()
    try:
        plain = fail()
    finally:
        instrumented.instrument()
    assert (type(traced), str(traced), traced.status_code) == (type(plain), str(plain), plain.status_code)


async def test_concurrent_async_calls_keep_their_parents() -> None:
    aclient = make_client(FakeOpenAI(), is_async=True)

    @observatory.workflow
    async def handle(i: int) -> str:
        await asyncio.sleep(0.001 * (i % 3))
        r = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return str(r.choices[0].message.content)

    async def run(i: int) -> str:
        with observatory.session(f"s-{i}"):
            return await handle(i)

    with capture() as cap:
        await asyncio.gather(*(run(i) for i in range(20)))
    spans = {s.context.span_id: s for s in cap.spans()}
    chats = [s for s in cap.spans() if s.name == "chat gpt-4o-mini"]
    assert len(chats) == 20
    for chat in chats:
        parent = spans[chat.parent.span_id]
        assert parent.name == "invoke_workflow handle"
        assert chat.attributes["session.id"] == parent.attributes["session.id"]
    assert len({c.attributes["session.id"] for c in chats}) == 20


def test_threads_keep_their_parents() -> None:
    from llm_observatory import context

    client = make_client(FakeOpenAI())
    context.install_thread_propagation()
    try:
        @observatory.workflow
        def fan_out() -> None:
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda _: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES),
                              range(8)))

        with capture() as cap:
            fan_out()
            fan_out()
    finally:
        context.uninstall_thread_propagation()
    roots = [s for s in cap.spans() if s.name == "invoke_workflow fan_out"]
    chats = [s for s in cap.spans() if s.name.startswith("chat")]
    assert len(chats) == 16
    for root in roots:
        mine = [c for c in chats if c.parent.span_id == root.context.span_id]
        assert len(mine) == 8 and all(c.context.trace_id == root.context.trace_id for c in mine)


def test_sampling_off_still_works_and_counts() -> None:
    client = make_client(FakeOpenAI())
    with capture(sampler=ALWAYS_OFF) as cap:
        assert client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices
        assert len(list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))) > 1
    assert cap.spans() == []
    assert sum(p["count"] for p in cap.metrics()["gen_ai.client.operation.duration"]) == 2
    assert cap.metrics()["llm.client.cost"][0]["value"] > 0
