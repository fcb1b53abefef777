"""Odd provider bodies under LangChain: langchain-openai and langchain-anthropic chat models on
fake APIs that make one field of their answer odd (see ``tests/_mutate.py``).

LangChain builds its messages from what the SDK parsed, and our handler reads its usage and
response metadata from them: the same call, with and without the instrumentation, must give the
same outcome, one span, no internal error and no OpenTelemetry warning. (LangChain's ``stream()``
can fail merging odd chunks after its error handling, and then reports neither the run's end
nor its error: that run's span is ended as at shutdown, marked ``llm.unfinished``.)
"""

from __future__ import annotations

from typing import Any

import pytest

from llm_observatory.instrumentation._core import _framework
from tests._odd import odd_body_failures

from .conftest import chat_anthropic, chat_openai

pytest.importorskip("langchain_openai")
pytest.importorskip("langchain_anthropic")

SEEDS = range(60)


def _odd_openai(seed: int) -> Any:
    from tests.openai.test_odd_bodies import OddOpenAI

    return OddOpenAI(seed=seed)


def _odd_anthropic(seed: int) -> Any:
    from tests.anthropic.test_odd_bodies import OddAnthropic

    return OddAnthropic(seed=seed)


CASES = [
    ("openai-invoke", _odd_openai, chat_openai, lambda m: m.invoke("Say this is a test")),
    ("openai-stream", _odd_openai, lambda f: chat_openai(f, stream_usage=True),
     lambda m: list(m.stream("Say this is a test"))),
    ("anthropic-invoke", _odd_anthropic, chat_anthropic, lambda m: m.invoke("Say hello")),
    ("anthropic-stream", _odd_anthropic, chat_anthropic, lambda m: list(m.stream("Say hello"))),
]


@pytest.mark.parametrize("content", [False, True], ids=["content-off", "content-on"])
@pytest.mark.parametrize(("name", "fake_of", "model_of", "call"), CASES, ids=[c[0] for c in CASES])
def test_an_odd_body_under_langchain(name: str, fake_of: Any, model_of: Any, call: Any, content: bool,
                                     instrumented: Any, caplog: pytest.LogCaptureFixture) -> None:
    failures = odd_body_failures(call, fake_of, model_of, instrumented, caplog, SEEDS, content,
                                 settle=_framework.end_open_units)
    assert not failures, "\n".join(failures)
