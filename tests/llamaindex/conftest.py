"""LlamaIndex fixtures: the instrumentation, a small VectorStoreIndex over MockEmbedding with
MockLLM, and llama-index's OpenAI LLM and embeddings talking to the fake API over a mock transport."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM

from llm_observatory.instrumentation.llamaindex import LlamaIndexInstrumentor

TEXTS = ["Paris is the capital of France.", "Berlin is the capital of Germany.", "Rome is in Italy."]


@pytest.fixture(autouse=True, scope="module")
def instrumented() -> Iterator[LlamaIndexInstrumentor]:
    inst = LlamaIndexInstrumentor()
    inst.instrument()
    yield inst
    inst.uninstrument()


@pytest.fixture(autouse=True)
def no_context_leak() -> Iterator[None]:
    from opentelemetry import context as otel_context

    before = otel_context.get_current()
    yield
    assert otel_context.get_current() == before


def documents() -> list[Document]:
    return [Document(text=t, id_=f"doc-{i}") for i, t in enumerate(TEXTS)]


def mock_index() -> VectorStoreIndex:
    return VectorStoreIndex.from_documents(documents(), embed_model=MockEmbedding(embed_dim=8))


def mock_llm() -> MockLLM:
    return MockLLM(max_tokens=6)


def openai_llm(fake: Any) -> Any:
    from llama_index.llms.openai import OpenAI

    from tests.openai.fake_openai import httpx
    return OpenAI(model="gpt-4o-mini", api_key="sk-test", max_retries=0,
                  http_client=httpx.Client(transport=fake.transport()),
                  async_http_client=httpx.AsyncClient(transport=fake.async_transport()))


def openai_embedding(fake: Any) -> Any:
    from llama_index.embeddings.openai import OpenAIEmbedding

    from tests.openai.fake_openai import httpx
    return OpenAIEmbedding(model="text-embedding-3-small", api_key="sk-test", max_retries=0,
                           http_client=httpx.Client(transport=fake.transport()),
                           async_http_client=httpx.AsyncClient(transport=fake.async_transport()))
