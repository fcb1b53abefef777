from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from llm_observatory.instrumentation.anthropic import AnthropicInstrumentor

from .fake_anthropic import FakeAnthropic, httpx


@pytest.fixture(autouse=True, scope="module")
def instrumented() -> Iterator[AnthropicInstrumentor]:
    inst = AnthropicInstrumentor()
    inst.instrument()
    yield inst
    inst.uninstrument()


@pytest.fixture
def fake() -> FakeAnthropic:
    return FakeAnthropic()


def make_client(fake: FakeAnthropic, *, is_async: bool = False, **kwargs: Any) -> Any:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("api_key", "sk-ant-test-0123456789abcdefghij")
    if is_async:
        return anthropic.AsyncAnthropic(http_client=httpx.AsyncClient(transport=fake.transport()), **kwargs)
    return anthropic.Anthropic(http_client=httpx.Client(transport=fake.transport()), **kwargs)


@pytest.fixture
def client(fake: FakeAnthropic) -> Any:
    return make_client(fake)


@pytest.fixture
def aclient(fake: FakeAnthropic) -> Any:
    return make_client(fake, is_async=True)


MESSAGES = [{"role": "user", "content": "Say hello"}]
