from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from llm_observatory.instrumentation.openai import OpenAIInstrumentor

from .fake_openai import FakeOpenAI, httpx


@pytest.fixture(autouse=True, scope="module")
def instrumented() -> Iterator[OpenAIInstrumentor]:
    inst = OpenAIInstrumentor()
    inst.instrument()
    yield inst
    inst.uninstrument()


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI()


def make_client(fake: FakeOpenAI, *, is_async: bool = False, **kwargs: Any) -> Any:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("api_key", "sk-test-0123456789abcdefghij")
    if is_async:
        return openai.AsyncOpenAI(http_client=httpx.AsyncClient(transport=fake.async_transport()), **kwargs)
    return openai.OpenAI(http_client=httpx.Client(transport=fake.transport()), **kwargs)


@pytest.fixture
def client(fake: FakeOpenAI) -> Any:
    return make_client(fake)


@pytest.fixture
def aclient(fake: FakeOpenAI) -> Any:
    return make_client(fake, is_async=True)


MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say this is a test"}]
