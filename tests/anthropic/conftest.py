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


def cloud_client(fake: FakeAnthropic, *, is_async: bool = False, **kwargs: Any) -> Any:
    """A client of ``fake.cloud``'s: ``AnthropicBedrock`` (signing with an access key, as it does
    with boto3), ``AnthropicVertex``, or the first-party client."""
    if fake.cloud is None:
        return make_client(fake, is_async=is_async, **kwargs)
    kwargs.setdefault("max_retries", 0)
    kwargs["http_client"] = (httpx.AsyncClient if is_async else httpx.Client)(transport=fake.transport())
    if fake.cloud == "bedrock":
        cls = anthropic.AsyncAnthropicBedrock if is_async else anthropic.AnthropicBedrock
        return cls(aws_region="us-east-1", aws_access_key="AKIAIOSFODNN7EXAMPLE",
                   aws_secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", **kwargs)
    cls = anthropic.AsyncAnthropicVertex if is_async else anthropic.AnthropicVertex
    return cls(region="us-east5", project_id="acme-prod", access_token="ya29.token", **kwargs)


#: The model each wire is called with (Bedrock's ids name the vendor and a version; Vertex's a date after an @).
CLOUD_MODELS = {None: "claude-sonnet-4-20250514", "bedrock": "us.anthropic.claude-sonnet-4-20250514-v1:0",
                "vertex": "claude-sonnet-4@20250514"}


@pytest.fixture
def client(fake: FakeAnthropic) -> Any:
    return make_client(fake)


@pytest.fixture
def aclient(fake: FakeAnthropic) -> Any:
    return make_client(fake, is_async=True)


MESSAGES = [{"role": "user", "content": "Say hello"}]
