"""Odd response bodies: a field dropped, nulled or of another type, in every API surface.

Each case runs the same call on the same odd body with and without the instrumentation and
compares what the application gets (the value, or the exception); the instrumented call must
also make its one span, and the instrumentation must not fail inside (no internal error logged).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests._mutate import mutate, mutate_one_event
from tests._odd import odd_body_failures
from tests._streaming import lazy_body

from .fake_openai import FakeOpenAI, httpx
from .test_errors_and_transparency import _scenarios

SEEDS = range(150)


@dataclass
class OddOpenAI(FakeOpenAI):
    """The fake API, its answer made odd at one place chosen by ``seed``."""

    seed: int = 0
    change: str = ""

    def _json(self, payload: dict[str, Any]) -> Any:
        odd, self.change = mutate(self.seed)(payload)
        return super()._json(odd)

    def _sse(self, events: list[dict[str, Any]], named: bool = False) -> Any:
        odd, self.change = mutate_one_event(self.seed)(events)

        def stream() -> Any:
            for original, event in zip(events, odd, strict=True):
                prefix = f"event: {original['type']}\n" if named else ""  # (the event's name as it was)
                yield f"{prefix}data: {json.dumps(event)}\n\n".encode()
            if not named:
                yield b"data: [DONE]\n\n"

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=lazy_body(httpx, stream()))


def _client(fake: FakeOpenAI) -> Any:
    from .conftest import make_client

    return make_client(fake)


@pytest.mark.parametrize("content", [False, True], ids=["content-off", "content-on"])
@pytest.mark.parametrize(("name", "call"), _scenarios(), ids=[n for n, _ in _scenarios()])
def test_an_odd_body_gives_the_same_outcome_and_one_span(name: str, call: Any, content: bool, instrumented: Any,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    failures = odd_body_failures(call, lambda seed: OddOpenAI(seed=seed), _client, instrumented, caplog, SEEDS,
                                 content)
    assert not failures, "\n".join(failures)
