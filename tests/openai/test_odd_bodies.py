"""Odd response bodies: a field dropped, nulled or of another type, in every API surface.

Each case runs the same call on the same odd body with and without the instrumentation and
compares what the application gets (the value, or the exception); the instrumented call must
also make its one span, and the instrumentation must not fail inside (no internal error logged).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests._mutate import mutate, mutate_one_event
from tests._odd import odd_body_failures, odd_failures
from tests._streaming import lazy_body

from .conftest import MESSAGES, make_client
from .fake_openai import FakeOpenAI, httpx
from .test_errors_and_transparency import _scenarios

SEEDS = range(150)


@dataclass
class OddOpenAI(FakeOpenAI):
    """The fake API, its answer made odd at one place chosen by ``seed``."""

    seed: int = 0
    change: str = ""
    #: ``shared``: an event of those the application would get without the instrumentation (not
    #: a usage chunk it asked for); ``usage``: a field inside that usage chunk
    events: str = "any"

    def _json(self, payload: dict[str, Any]) -> Any:
        odd, self.change = mutate(self.seed)(payload)
        return super()._json(odd)

    def _sse(self, events: list[dict[str, Any]], named: bool = False) -> Any:
        usage_chunk = bool(events) and events[-1].get("choices") == [] and bool(events[-1].get("usage"))
        if self.events == "usage":
            if usage_chunk:
                last, where = mutate(self.seed, inside=("usage",))(events[-1])
                odd, self.change = [*events[:-1], last], f"the usage chunk: {where}"
            else:
                odd, self.change = events, "unchanged (no usage chunk)"
        elif self.events == "shared":
            odd, self.change = mutate_one_event(self.seed, lambda e: len(e) - usage_chunk)(events)
        else:
            odd, self.change = mutate_one_event(self.seed)(events)

        def stream() -> Any:
            for original, event in zip(events, odd, strict=True):
                prefix = f"event: {original['type']}\n" if named else ""  # (the event's name as it was)
                yield f"{prefix}data: {json.dumps(event)}\n\n".encode()
            if not named:
                yield b"data: [DONE]\n\n"

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=lazy_body(httpx, stream()))


def _client(fake: FakeOpenAI) -> Any:
    return make_client(fake)


def _async_client(fake: FakeOpenAI) -> Any:
    return make_client(fake, is_async=True)


def _chat_helper(c: Any) -> Any:
    with c.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        kinds = [event.type for event in stream]
        return kinds, stream.get_final_completion()


def _responses_helper(c: Any) -> Any:
    with c.responses.stream(model="gpt-4o-mini", input="hi") as stream:
        kinds = [event.type for event in stream]
        return kinds, stream.get_final_response()


def _async_chat(c: Any) -> Any:
    return asyncio.run(c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))


def _async_stream(c: Any) -> Any:
    async def read() -> list[Any]:
        stream = await c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        return [chunk async for chunk in stream]

    return asyncio.run(read())


def _stream_without_usage(c: Any) -> Any:
    return list(c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))


#: More surfaces: the stream helpers, async clients, and a stream whose usage is asked for by
#: the instrumentation (``stream_usage``) and hidden from the application (what is made odd then:
#: see ``OddOpenAI.events``).
MORE = [
    ("chat-helper", _chat_helper, _client, ""),
    ("responses-helper", _responses_helper, _client, ""),
    ("async-chat", _async_chat, _async_client, ""),
    ("async-stream", _async_stream, _async_client, ""),
    ("completions-stream", lambda c: list(c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi",
                                                               stream=True)), _client, ""),
    ("stream-usage-asked", _stream_without_usage, _client, "shared"),
    ("stream-usage-asked-odd", _stream_without_usage, _client, "usage"),
]


@pytest.mark.parametrize("content", [False, True], ids=["content-off", "content-on"])
@pytest.mark.parametrize(("name", "call"), _scenarios(), ids=[n for n, _ in _scenarios()])
def test_an_odd_body_gives_the_same_outcome_and_one_span(name: str, call: Any, content: bool, instrumented: Any,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    failures = odd_body_failures(call, lambda seed: OddOpenAI(seed=seed), _client, instrumented, caplog, SEEDS,
                                 content)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("name", "call", "client_of", "usage_asked"), MORE, ids=[m[0] for m in MORE])
def test_more_surfaces_with_an_odd_body(name: str, call: Any, client_of: Any, usage_asked: str, instrumented: Any,
                                        caplog: pytest.LogCaptureFixture) -> None:
    """``usage_asked``: the instrumentation asks for the usage (``stream_usage``) and hides its
    chunk, so the odd event is one both runs get, or a field inside that chunk."""
    failures = odd_body_failures(call, lambda seed: OddOpenAI(seed=seed, events=usage_asked or "any"), client_of,
                                 instrumented, caplog, SEEDS, stream_usage=bool(usage_asked))
    assert not failures, "\n".join(failures)


TOOL_CALLS = [("call_1", "lookup", '{"order": 7}'), ("call_2", "refund", '{"order": 7, "amount": 12.5}')]


@pytest.mark.parametrize("content", [False, True], ids=["content-off", "content-on"])
@pytest.mark.parametrize("name", ["chat", "stream"])
def test_an_odd_body_with_tool_calls(name: str, content: bool, instrumented: Any,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """Answers with two tool calls (streamed as argument deltas): odd ids, names, indexes, deltas."""
    call = dict(_scenarios())[name]
    failures = odd_body_failures(call, lambda seed: OddOpenAI(seed=seed, tool_calls=TOOL_CALLS), _client,
                                 instrumented, caplog, SEEDS, content)
    assert not failures, "\n".join(failures)


@dataclass
class OddIndexOpenAI(FakeOpenAI):
    """The fake API, every choice of its streams numbered ``index`` (a number no API sends)."""

    index: Any = 0
    change: str = ""

    def _sse(self, events: list[dict[str, Any]], named: bool = False) -> Any:
        for event in events:
            for choice in event.get("choices") or ():
                choice["index"] = self.index
        self.change = f"every choice's index = {self.index!r}"
        return super()._sse(events, named)


@pytest.mark.parametrize("content", [False, True], ids=["content-off", "content-on"])
@pytest.mark.parametrize("index", [2**40, -5, "0", 1.0], ids=["huge", "negative", "str", "float"])
@pytest.mark.parametrize("name", ["stream", "completions-stream"])
def test_a_stream_s_choice_index_out_of_range_sizes_nothing(name: str, index: Any, content: bool, instrumented: Any,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """A stream's choices are listed by their index: one out of the API's range (2**40 once made
    a list that long) is left out, as a choice of an odd type is."""
    call = _stream_without_usage if name == "stream" else dict((m[0], m[1]) for m in MORE)["completions-stream"]

    def make(seed: int) -> tuple[Any, Any]:
        fake = OddIndexOpenAI(index=index)
        return (lambda: call(_client(fake))), fake

    failures = odd_failures(make, instrumented, caplog, [0], content)
    assert not failures, "\n".join(failures)


def _azure_client(fake: FakeOpenAI) -> Any:
    import openai

    return openai.AzureOpenAI(api_key="k", api_version="2024-10-21", azure_endpoint="https://acme.openai.azure.com",
                              max_retries=0, http_client=httpx.Client(transport=fake.transport()))


AZURE = {"chat": dict(_scenarios())["chat"], "stream": dict(_scenarios())["stream"], "chat-helper": _chat_helper}


@pytest.mark.parametrize("content", [False, True], ids=["content-off", "content-on"])
@pytest.mark.parametrize("name", list(AZURE))
def test_an_odd_azure_body(name: str, content: bool, instrumented: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Azure's answers carry content filter results (a streamed one opens with the prompt's, in a
    chunk with no id nor model), and its streams are read whole: odd there too."""
    failures = odd_body_failures(AZURE[name], lambda seed: OddOpenAI(seed=seed, azure=True), _azure_client,
                                 instrumented, caplog, SEEDS, content)
    assert not failures, "\n".join(failures)
