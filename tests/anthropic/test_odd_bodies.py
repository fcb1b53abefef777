"""Odd response bodies from the Messages API: a field dropped, nulled or of another type.

As for OpenAI (see ``tests/_mutate.py``): the same call on the same odd body, with and without
the instrumentation, gives the application the same outcome; the instrumented call makes its one
span, and the instrumentation does not fail inside.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests._mutate import mutate, mutate_one_event
from tests._odd import odd_body_failures

from .conftest import MESSAGES, make_client
from .fake_anthropic import FakeAnthropic, httpx
from .test_messages import MODEL, _scenarios

SEEDS = range(150)


@dataclass
class OddAnthropic(FakeAnthropic):
    """The fake API, its answer made odd at one place chosen by ``seed``."""

    seed: int = 0
    change: str = ""

    def handle(self, request: Any) -> Any:
        response = super().handle(request)
        if response.headers.get("content-type") != "application/json":
            return response  # (a stream: see _sse)
        odd, self.change = mutate(self.seed)(json.loads(response.content))
        return httpx.Response(response.status_code, json=odd, headers={"request-id": "req_011"})

    def _sse(self, events: list[dict[str, Any]]) -> Any:
        odd, self.change = mutate_one_event(self.seed)(events)
        # (each event under its name as it was)
        return self.stream_of([(original["type"], event) for original, event in zip(events, odd, strict=True)])


@pytest.mark.parametrize("content", [False, True], ids=["content-off", "content-on"])
@pytest.mark.parametrize(("name", "call"), _scenarios(), ids=[n for n, _ in _scenarios()])
def test_an_odd_body_gives_the_same_outcome_and_one_span(name: str, call: Any, content: bool, instrumented: Any,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    failures = odd_body_failures(call, lambda seed: OddAnthropic(seed=seed), make_client, instrumented, caplog,
                                 SEEDS, content)
    assert not failures, "\n".join(failures)


def _async_client(fake: FakeAnthropic) -> Any:
    return make_client(fake, is_async=True)


def _async_create(c: Any) -> Any:
    return asyncio.run(c.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES))


def _async_helper(c: Any) -> Any:
    async def read() -> Any:
        async with c.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as stream:
            kinds = [event.type async for event in stream]
            return kinds, await stream.get_final_message()

    return asyncio.run(read())


def _beta_create(c: Any) -> Any:
    return c.beta.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)


MORE = [("async-create", _async_create, _async_client), ("async-helper", _async_helper, _async_client),
        ("beta-create", _beta_create, make_client)]


@pytest.mark.parametrize(("name", "call", "client_of"), MORE, ids=[m[0] for m in MORE])
def test_more_surfaces_with_an_odd_body(name: str, call: Any, client_of: Any, instrumented: Any,
                                        caplog: pytest.LogCaptureFixture) -> None:
    failures = odd_body_failures(call, lambda seed: OddAnthropic(seed=seed), client_of, instrumented, caplog, SEEDS)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("content", [False, True], ids=["content-off", "content-on"])
@pytest.mark.parametrize("name", ["create", "stream", "helper"])
def test_an_odd_body_with_thinking_and_tool_use(name: str, content: bool, instrumented: Any,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """Answers with a thinking block and a tool use (streamed as JSON deltas)."""
    call = dict(_scenarios())[name]
    failures = odd_body_failures(
        call, lambda seed: OddAnthropic(seed=seed, thinking="Look it up.", tool_use=("toolu_1", "lookup", {"order": 7})),
        make_client, instrumented, caplog, SEEDS, content)
    assert not failures, "\n".join(failures)
