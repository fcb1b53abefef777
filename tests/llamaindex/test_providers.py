"""One model call, one count: llama-index's OpenAI LLM and embeddings over the instrumented openai SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llm_observatory.instrumentation.openai import OpenAIInstrumentor
from llm_observatory.testing import Capture, capture
from tests._streaming import assert_cut_short_not_failed, leave_early
from tests.openai.fake_openai import FakeOpenAI

from .conftest import documents, openai_embedding, openai_llm

pytest.importorskip("llama_index.llms.openai")
pytest.importorskip("llama_index.embeddings.openai")

from llama_index.core import VectorStoreIndex


@pytest.fixture(autouse=True, scope="module")
def provider() -> Iterator[None]:
    inst = OpenAIInstrumentor()
    inst.instrument()
    yield
    inst.uninstrument()


def engine(streaming: bool = False) -> Any:
    fake = FakeOpenAI()
    index = VectorStoreIndex.from_documents(documents(), embed_model=openai_embedding(fake))
    return index.as_query_engine(llm=openai_llm(fake), similarity_top_k=1, streaming=streaming)


MODES: dict[str, Callable[[], Any]] = {
    "query": lambda: str(engine().query("capital of France?")),
    "stream": lambda: "".join(engine(streaming=True).query("capital of France?").response_gen),
    "aquery": lambda: str(asyncio.run(engine().aquery("capital of France?"))),
}


def counted(cap: Capture) -> list[Any]:
    return [s for s in cap.spans() if "gen_ai.usage.input_tokens" in s.attributes]


@pytest.mark.parametrize("mode", list(MODES))
def test_each_call_is_counted_once(mode: str) -> None:
    with capture() as cap:
        MODES[mode]()
    spans = counted(cap)
    # Index build: one embeddings call; query: one embeddings call and one chat call.
    assert sorted(s.attributes["gen_ai.operation.name"] for s in spans) == ["chat", "embeddings", "embeddings"]
    by_id = {s.context.span_id: s for s in cap.spans()}
    for span in spans:
        assert "llm.framework" not in span.attributes  # the openai span counts
        parent = by_id[span.parent.span_id]
        assert parent.attributes["llm.framework"] == "llamaindex"
        assert parent.attributes["llm.inference.delegated_to"] == "openai"
        assert "gen_ai.usage.input_tokens" not in parent.attributes and "llm.cost.usd" not in parent.attributes
    tokens = cap.metrics()["gen_ai.client.token.usage"]
    assert sum(p["count"] for p in tokens if p["attributes"]["gen_ai.token.type"] == "input") == 3
    assert sum(p["sum"] for p in tokens if p["attributes"]["gen_ai.token.type"] == "input") == \
        sum(s.attributes["gen_ai.usage.input_tokens"] for s in spans)
    durations = cap.metrics()["gen_ai.client.operation.duration"]
    assert sum(p["count"] for p in durations) == 3


def test_query_tree_with_the_provider_spans() -> None:
    with capture() as cap:
        MODES["query"]()
    spans = cap.snapshot()
    children: dict[Any, list[str]] = {}
    for s in spans:
        children.setdefault(s["parent_id"], []).append(s["name"])
    (root,) = [s for s in spans if s["name"] == "invoke_workflow RetrieverQueryEngine"]
    assert children[root["span_id"]] == ["retrieval VectorIndexRetriever", "synthesize CompactAndRefine"]
    (chat,) = [s for s in spans if s["name"] == "chat gpt-4o-mini" and s["attributes"].get("llm.framework")]
    assert children[chat["span_id"]] == ["chat gpt-4o-mini"]


def test_without_provider_instrumentation_llamaindex_counts_exact_usage() -> None:
    OpenAIInstrumentor().uninstrument()
    try:
        with capture() as cap:
            MODES["query"]()
    finally:
        OpenAIInstrumentor().instrument()
    (chat,) = [s for s in cap.spans() if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert (chat.attributes["gen_ai.usage.input_tokens"], chat.attributes["gen_ai.usage.output_tokens"]) == (12, 4)
    assert chat.attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert list(chat.attributes["gen_ai.response.finish_reasons"]) == ["stop"]
    assert chat.attributes["llm.cost.usd"] > 0 and "llm.usage.estimated" not in chat.attributes


def test_provider_error_is_raised_unchanged() -> None:
    import openai
    fake = FakeOpenAI()
    index = VectorStoreIndex.from_documents(documents(), embed_model=openai_embedding(fake))
    fake.fail_status = 500
    query_engine = index.as_query_engine(llm=openai_llm(fake))
    with capture() as cap, pytest.raises(openai.InternalServerError):
        query_engine.query("capital?")
    root = cap.span("invoke_workflow RetrieverQueryEngine")
    assert root.status.status_code.name == "ERROR"
    assert all(s.end_time for s in cap.spans())


def test_without_provider_instrumentation_the_usage_details_are_read_as_the_provider_reads_them() -> None:
    """The cached and audio tokens of the SDK's usage object are counted and priced as the OpenAI
    instrumentation counts them for the same response."""
    def query() -> Any:
        fake = FakeOpenAI(prompt_tokens=2000, cached_tokens=1500, audio_tokens=(100, 0))
        index = VectorStoreIndex.from_documents(documents(), embed_model=openai_embedding(fake))
        with capture() as cap:
            str(index.as_query_engine(llm=openai_llm(fake), similarity_top_k=1).query("capital of France?"))
        return next(s for s in cap.spans() if s.attributes.get("gen_ai.operation.name") == "chat"
                    and "llm.inference.delegated_to" not in s.attributes)

    provider_span = query()
    OpenAIInstrumentor().uninstrument()
    try:
        alone = query()
    finally:
        OpenAIInstrumentor().instrument()
    assert "llm.framework" in alone.attributes and "llm.framework" not in provider_span.attributes
    keys = ("gen_ai.usage.input_tokens", "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.audio.input_tokens",
            "llm.cost.usd")
    ours = [alone.attributes.get(k) for k in keys]
    assert ours == [provider_span.attributes.get(k) for k in keys]
    assert ours[:3] == [2000, 1500, 100]


def test_a_chat_stream_left_early_is_cut_short_not_failed() -> None:
    """``stream_chat()`` left after its first chunk: LlamaIndex reports its generator's
    ``GeneratorExit`` as the span's error; the span ends cut short, not failed, and so does the
    provider's, whose stream LlamaIndex's generator drops (it ends when collected)."""
    from llama_index.core.llms import ChatMessage

    with capture() as cap:
        stream = openai_llm(FakeOpenAI()).stream_chat([ChatMessage(role="user", content="hi")])
        leave_early(stream)
    assert_cut_short_not_failed(cap.spans())
