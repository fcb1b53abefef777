"""LlamaIndex dispatcher spans and events → spans: trees, streaming, async, errors, content, tools."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.llms import MockLLM
from llama_index.core.tools import FunctionTool

from llm_observatory.instrumentation.llamaindex import LlamaIndexInstrumentor
from llm_observatory.testing import capture
from tests.conftest import span_tree, traced_and_plain

from ._workflow import Answer
from .conftest import mock_index, mock_llm

tree = span_tree


QUERY_TREE = [("invoke_workflow RetrieverQueryEngine", [
    ("retrieval VectorIndexRetriever", ["embeddings"]),
    ("synthesize CompactAndRefine", ["text_completion"]),
])]


def test_index_build_embeds_the_documents() -> None:
    with capture() as cap:
        mock_index()
    (span,) = cap.spans()
    assert span.name == "embeddings" and span.kind.name == "CLIENT"
    assert span.attributes["gen_ai.embeddings.dimension.count"] == 8
    assert span.attributes["llm.usage.estimated"] is True and span.attributes["gen_ai.usage.input_tokens"] > 0


def test_query_engine_tree_and_attributes() -> None:
    engine = mock_index().as_query_engine(llm=mock_llm(), similarity_top_k=2)
    with capture() as cap:
        response = engine.query("What is the capital of France?")
    assert str(response)
    assert tree(cap) == QUERY_TREE
    root = cap.span("invoke_workflow RetrieverQueryEngine").attributes
    assert root["gen_ai.operation.name"] == "invoke_workflow" and root["llm.framework"] == "llamaindex"
    retrieval = cap.span("retrieval VectorIndexRetriever")
    assert retrieval.kind.name == "CLIENT" and retrieval.attributes["llm.retrieval.document_count"] == 2
    completion = cap.span("text_completion").attributes
    assert completion["gen_ai.provider.name"] == "mockllm" and completion["gen_ai.usage.output_tokens"] > 0
    assert "France" not in json.dumps(cap.snapshot())  # content is off by default
    tokens = {p["attributes"]["gen_ai.token.type"]: p["count"] for p in cap.metrics()["gen_ai.client.token.usage"]
              if p["attributes"]["gen_ai.operation.name"] == "text_completion"}
    assert tokens == {"input": 1, "output": 1}  # one count for the one model call


def test_streaming_query() -> None:
    engine = mock_index().as_query_engine(llm=mock_llm(), streaming=True)
    with capture() as cap:
        response = engine.query("capital of France?")
        text = "".join(response.response_gen)
    assert text.strip()
    assert tree(cap) == QUERY_TREE
    completion = cap.span("text_completion").attributes
    assert completion["llm.stream.chunks"] >= 1 and completion["gen_ai.response.time_to_first_chunk"] >= 0


def test_a_streamed_response_dropped_unread_ends_its_spans(instrumented: LlamaIndexInstrumentor) -> None:
    import gc
    engine = mock_index().as_query_engine(llm=mock_llm(), streaming=True)
    with capture() as cap:
        response = engine.query("capital of France?")
        del response
        gc.collect()
    spans = cap.spans()  # (which first does what the collection left for the background thread)
    assert instrumented._tracker._models == {}  # no model call left open (and, per the fixture, current)
    for span in spans:
        if span.name == "text_completion":  # releases that call the model before the stream is read
            assert list(span.attributes["gen_ai.response.finish_reasons"]) == ["error"]


def test_async_query() -> None:
    engine = mock_index().as_query_engine(llm=mock_llm())
    with capture() as cap:
        asyncio.run(engine.aquery("capital of France?"))
    assert tree(cap) == QUERY_TREE


def test_chat_engine() -> None:
    engine = mock_index().as_chat_engine(chat_mode="context", llm=mock_llm())
    with capture() as cap:
        reply = engine.chat("Tell me about Paris")
    assert str(reply)
    (root,) = tree(cap)
    assert root[0] == "invoke_workflow ContextChatEngine"
    names = json.dumps(root)
    assert "retrieval VectorIndexRetriever" in names
    model_spans = [s for s in cap.spans() if s.attributes.get("gen_ai.operation.name") in ("chat", "text_completion")]
    assert len(model_spans) == 1


def test_content_opt_in() -> None:
    engine = mock_index().as_query_engine(llm=mock_llm(), similarity_top_k=1)
    with capture(capture_content=True) as cap:
        engine.query("Paris capital?")
    retrieval = cap.span("retrieval VectorIndexRetriever").attributes
    assert retrieval["gen_ai.retrieval.query.text"] == "Paris capital?"
    (doc,) = json.loads(retrieval["gen_ai.retrieval.documents"])
    assert set(doc) == {"id", "score", "content"} and doc["content"] in (
        "Paris is the capital of France.", "Berlin is the capital of Germany.", "Rome is in Italy.")
    root = cap.span("invoke_workflow RetrieverQueryEngine").attributes
    assert json.loads(root["llm.input"]) == "Paris capital?"
    completion = cap.span("text_completion").attributes
    assert "Paris capital?" in json.loads(completion["gen_ai.input.messages"])[0]["parts"][0]["content"]
    assert json.loads(completion["gen_ai.output.messages"])[0]["role"] == "assistant"


class BrokenLLM(MockLLM):
    def complete(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("model unavailable")


def test_error_in_the_model_ends_every_span() -> None:
    engine = mock_index().as_query_engine(llm=BrokenLLM())
    with capture() as cap, pytest.raises(ConnectionError, match="model unavailable"):
        engine.query("capital?")
    root = cap.span("invoke_workflow RetrieverQueryEngine")
    assert root.status.status_code.name == "ERROR" and root.attributes["error.type"] == "ConnectionError"
    assert cap.span("synthesize CompactAndRefine").status.status_code.name == "ERROR"
    assert all(s.end_time for s in cap.spans())


def test_error_in_a_stream_ends_the_model_span() -> None:
    from llama_index.core.llms.callbacks import llm_completion_callback

    class BrokenStream(MockLLM):
        @llm_completion_callback()
        def stream_complete(self, *args: Any, **kwargs: Any) -> Any:
            def gen() -> Any:
                yield from ()
                raise TimeoutError("stream cut")
            return gen()

    engine = mock_index().as_query_engine(llm=BrokenStream(), streaming=True)
    with capture() as cap:
        response = engine.query("capital?")
        with pytest.raises(TimeoutError):
            "".join(response.response_gen)
    assert tree(cap) == QUERY_TREE
    completion = cap.span("text_completion")
    assert completion.status.status_code.name == "ERROR" and completion.attributes["error.type"] == "TimeoutError"
    assert list(completion.attributes["gen_ai.response.finish_reasons"]) == ["error"]


def test_tool_call() -> None:
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b
    tool = FunctionTool.from_defaults(fn=multiply)
    with capture(capture_content=True) as cap:
        output = tool.call(a=6, b=7)
    assert output.raw_output == 42
    (span,) = cap.spans()
    assert span.name == "execute_tool multiply"
    attrs = span.attributes
    assert attrs["gen_ai.tool.name"] == "multiply" and "Multiply two integers." in attrs["gen_ai.tool.description"]
    assert json.loads(attrs["gen_ai.tool.call.arguments"]) == {"a": 6, "b": 7}
    assert json.loads(attrs["gen_ai.tool.call.result"]) == 42
    (point,) = cap.metrics()["gen_ai.execute_tool.duration"]
    assert point["attributes"]["gen_ai.tool.name"] == "multiply"


@pytest.mark.parametrize("mode", ["query", "stream", "aquery", "chat"])
def test_differential_transparency(mode: str, instrumented: LlamaIndexInstrumentor) -> None:
    def run() -> Any:
        index = mock_index()
        if mode == "chat":
            return str(index.as_chat_engine(chat_mode="context", llm=mock_llm()).chat("Paris?"))
        if mode == "stream":
            response = index.as_query_engine(llm=mock_llm(), streaming=True).query("Paris?")
            return type(response).__name__, "".join(response.response_gen)
        engine = index.as_query_engine(llm=mock_llm())
        response = asyncio.run(engine.aquery("Paris?")) if mode == "aquery" else engine.query("Paris?")
        # MockEmbedding ties every document: which ones are retrieved varies from run to run.
        return type(response).__name__, str(response), sorted(n.score or 0 for n in response.source_nodes)
    traced, plain = traced_and_plain(instrumented, run)
    assert traced == plain


def test_uninstrument_removes_the_handlers(instrumented: LlamaIndexInstrumentor) -> None:
    dispatcher = get_dispatcher()
    ours = lambda hs: [h for h in hs if type(h).__name__.startswith("Observatory")]  # noqa: E731
    assert len(ours(dispatcher.span_handlers)) == 1 and len(ours(dispatcher.event_handlers)) == 1
    instrumented.instrument()  # idempotent
    assert len(ours(dispatcher.span_handlers)) == 1
    instrumented.uninstrument()
    try:
        assert ours(dispatcher.span_handlers) == [] and ours(dispatcher.event_handlers) == []
    finally:
        instrumented.instrument()


def test_reranker_span() -> None:
    from llama_index.core.postprocessor import LLMRerank

    index = mock_index()
    reranker = LLMRerank(llm=mock_llm(), top_n=1)
    engine = index.as_query_engine(llm=mock_llm(), similarity_top_k=3, node_postprocessors=[reranker])
    with capture() as cap:
        engine.query("capital of France?")  # MockLLM's text ranks nothing: an empty response, a full trace
    spans = {s.name: s for s in cap.spans()}
    assert "rerank LLMRerank" in spans
    rerank = spans["rerank LLMRerank"]
    assert rerank.attributes["llm.llamaindex.kind"] == "rerank"
    root = spans["invoke_workflow RetrieverQueryEngine"]
    assert rerank.parent is not None and rerank.parent.span_id == root.context.span_id
    (ranking_call,) = [s for s in cap.spans() if s.parent is not None and s.parent.span_id == rerank.context.span_id]
    assert ranking_call.attributes["gen_ai.operation.name"] in ("chat", "text_completion")


def test_workflow_and_nested_model_call() -> None:
    async def main() -> Any:
        return await Answer(timeout=10).run(question="hello")
    with capture() as cap:
        result = asyncio.run(main())
    assert result
    root = cap.span("invoke_workflow Answer")
    assert root.attributes["gen_ai.operation.name"] == "invoke_workflow"
    completion = cap.span("text_completion")
    assert completion.parent is not None and completion.context.trace_id == root.context.trace_id
    (point,) = cap.metrics()["gen_ai.invoke_workflow.duration"]
    assert point["attributes"]["gen_ai.workflow.name"] == "Answer"
