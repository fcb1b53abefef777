"""LangChain fixtures: the instrumentation, fake models, a retriever, tools, and real provider
chat models (langchain-openai, langchain-anthropic) talking to the fake APIs over a mock transport."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.retrievers import BaseRetriever

from llm_observatory.instrumentation.langchain import LangChainInstrumentor

DOCS = [
    Document(id="doc-1", page_content="Paris is the capital of France.", metadata={"score": 0.9}),
    Document(id="doc-2", page_content="Berlin is the capital of Germany.", metadata={"score": 0.4}),
]


@pytest.fixture(autouse=True, scope="module")
def instrumented() -> Iterator[LangChainInstrumentor]:
    inst = LangChainInstrumentor()
    inst.instrument()
    yield inst
    inst.uninstrument()


class KeywordRetriever(BaseRetriever):
    """Returns the documents that share a proper noun with the query."""

    docs: list[Document] = DOCS

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        names = {w.strip("?.,") for w in query.split() if w[:1].isupper()}
        return [d for d in self.docs if names & {w.strip("?.,") for w in d.page_content.split()}]


class ToolFakeChatModel(GenericFakeChatModel):
    """GenericFakeChatModel that accepts ``bind_tools`` (agents bind their tools first)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def chat_openai(fake: Any, **kwargs: Any) -> Any:
    from langchain_openai import ChatOpenAI

    from tests.openai.fake_openai import httpx
    return ChatOpenAI(model="gpt-4o-mini", api_key="sk-test", max_retries=0,
                      http_client=httpx.Client(transport=fake.transport()),
                      http_async_client=httpx.AsyncClient(transport=fake.async_transport()), **kwargs)


def chat_anthropic(fake: Any, **kwargs: Any) -> Any:
    import anthropic
    from langchain_anthropic import ChatAnthropic

    from tests.anthropic.fake_anthropic import httpx
    model = ChatAnthropic(model="claude-3-5-haiku-latest", api_key="sk-ant-test", max_retries=0, **kwargs)
    # The clients are cached properties: give them the mock transport.
    model.__dict__["_client"] = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0,
                                                    http_client=httpx.Client(transport=fake.transport()))
    model.__dict__["_async_client"] = anthropic.AsyncAnthropic(
        api_key="sk-ant-test", max_retries=0, http_client=httpx.AsyncClient(transport=fake.transport()))
    return model


@pytest.fixture(autouse=True)
def no_context_leak() -> Iterator[None]:
    """Every test leaves the OpenTelemetry context as it found it: no span of ours stays current."""
    from opentelemetry import context as otel_context

    before = otel_context.get_current()
    yield
    assert otel_context.get_current() == before
