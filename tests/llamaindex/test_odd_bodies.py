"""Odd provider bodies under LlamaIndex: its OpenAI LLM on a fake API that makes one field of the
answer odd (see ``tests/_mutate.py``). The same call, with and without the instrumentation, gives
the same outcome, one span, no internal error and no OpenTelemetry warning.
"""

from __future__ import annotations

from typing import Any

import pytest

from llm_observatory.instrumentation._core import _framework
from tests._odd import odd_body_failures

from .conftest import openai_llm

pytest.importorskip("llama_index.llms.openai")

SEEDS = range(60)


def _odd_openai(seed: int) -> Any:
    from tests.openai.test_odd_bodies import OddOpenAI

    return OddOpenAI(seed=seed)


def _chat(llm: Any) -> Any:
    from llama_index.core.llms import ChatMessage

    return llm.chat([ChatMessage(role="user", content="Say this is a test")])


def _stream_chat(llm: Any) -> Any:
    from llama_index.core.llms import ChatMessage

    return list(llm.stream_chat([ChatMessage(role="user", content="Say this is a test")]))


CASES = [("chat", _chat), ("stream-chat", _stream_chat), ("complete", lambda llm: llm.complete("Say hi"))]


@pytest.mark.parametrize("content", [False, True], ids=["content-off", "content-on"])
@pytest.mark.parametrize(("name", "call"), CASES, ids=[c[0] for c in CASES])
def test_an_odd_body_under_llamaindex(name: str, call: Any, content: bool, instrumented: Any,
                                      caplog: pytest.LogCaptureFixture) -> None:
    failures = odd_body_failures(call, _odd_openai, openai_llm, instrumented, caplog, SEEDS, content,
                                 settle=_framework.end_open_units)
    assert not failures, "\n".join(failures)
