"""LangChain runs → spans: trees, streaming, async, batches, threads, agents, LangGraph, errors."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypedDict

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.tools import tool
from opentelemetry import trace

import llm_observatory as observatory
from llm_observatory.instrumentation.langchain import LangChainInstrumentor
from llm_observatory.testing import Capture, capture
from tests.conftest import span_tree, traced_and_plain

from .conftest import KeywordRetriever, ToolFakeChatModel

PROMPT = ChatPromptTemplate.from_messages([("system", "Answer from the context: {context}"), ("human", "{question}")])


def rag_chain(model: Any) -> Any:
    def format_docs(docs: list[Any]) -> str:
        return "\n".join(d.page_content for d in docs)
    retrieve = KeywordRetriever() | RunnableLambda(format_docs).with_config(run_name="format_docs")
    return {"context": retrieve, "question": RunnablePassthrough()} | PROMPT | model | StrOutputParser()


def tree(cap: Capture) -> list[Any]:
    return span_tree(cap, unordered=lambda name: name.startswith("RunnableParallel"))  # branches run concurrently


def by_name(cap: Capture, name: str) -> list[dict[str, Any]]:
    return [s for s in cap.snapshot() if s["name"] == name]


def test_rag_chain_tree_and_attributes() -> None:
    chain = rag_chain(FakeListChatModel(responses=["Paris."]))
    with capture() as cap:
        assert chain.invoke("What is the capital of France?") == "Paris."
    assert tree(cap) == [("invoke_workflow RunnableSequence", [
        ("RunnableParallel<context,question>", [
            "RunnablePassthrough",
            ("RunnableSequence", ["retrieval KeywordRetriever", "format_docs"]),
        ]),
        "ChatPromptTemplate",
        "chat",
        "StrOutputParser",
    ])]
    root = cap.span("invoke_workflow RunnableSequence")
    assert root.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert root.attributes["gen_ai.workflow.name"] == "RunnableSequence"
    retrieval = cap.span("retrieval KeywordRetriever")
    assert retrieval.kind.name == "CLIENT"
    assert dict(retrieval.attributes) == {
        "gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "KeywordRetriever",
        "llm.framework": "langchain", "llm.retrieval.document_count": 1}
    chat = cap.span("chat")
    assert chat.attributes["gen_ai.provider.name"] == "fakelistchatmodel"
    assert chat.attributes["llm.usage.estimated"] is True
    assert chat.attributes["gen_ai.usage.input_tokens"] > 0 and chat.attributes["gen_ai.usage.output_tokens"] > 0
    # Content is off by default.
    assert "Paris" not in json.dumps(cap.snapshot())


def test_content_opt_in() -> None:
    chain = rag_chain(FakeListChatModel(responses=["Paris."]))
    with capture(capture_content=True) as cap:
        chain.invoke("What is the capital of France?")
    retrieval = cap.span("retrieval KeywordRetriever").attributes
    assert retrieval["gen_ai.retrieval.query.text"] == "What is the capital of France?"
    assert json.loads(retrieval["gen_ai.retrieval.documents"]) == [
        {"id": "doc-1", "score": 0.9, "content": "Paris is the capital of France."}]
    chat = cap.span("chat").attributes
    assert json.loads(chat["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Answer from the context: Paris is the capital of France."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]}]
    assert json.loads(chat["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": "Paris."}]
    root = cap.span("invoke_workflow RunnableSequence").attributes
    assert json.loads(root["llm.input"]) == "What is the capital of France?"
    assert json.loads(root["llm.output"]) == "Paris."


def test_one_inference_span_and_one_count_for_a_model_without_provider() -> None:
    model = FakeListChatModel(responses=["one two three"])
    with capture() as cap:
        model.invoke("hello")
    (span,) = cap.spans()
    assert span.name == "chat" and span.kind.name == "CLIENT"
    tokens = {p["attributes"]["gen_ai.token.type"]: (p["count"], p["sum"])
              for p in cap.metrics()["gen_ai.client.token.usage"]}
    assert tokens == {"input": (1, span.attributes["gen_ai.usage.input_tokens"]),
                      "output": (1, span.attributes["gen_ai.usage.output_tokens"])}
    assert "llm.inference.delegated_to" not in span.attributes


def test_usage_metadata_is_taken_exactly() -> None:
    message = AIMessage(content="hi", usage_metadata={
        "input_tokens": 21, "output_tokens": 7, "total_tokens": 28,
        "input_token_details": {"cache_read": 5}, "output_token_details": {"reasoning": 2}},
        response_metadata={"model_name": "gpt-4o-mini-2024-07-18", "finish_reason": "stop"})
    model = GenericFakeChatModel(messages=iter([message]))
    with capture() as cap:
        model.invoke("hello")
    attrs = cap.spans()[0].attributes
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"],
            attrs["gen_ai.usage.cache_read.input_tokens"], attrs["gen_ai.usage.reasoning.output_tokens"]) == (21, 7, 5, 2)
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["stop"]
    assert "llm.usage.estimated" not in attrs


def test_usage_metadata_details_by_lifetime_and_modality() -> None:
    message = AIMessage(content="hi", usage_metadata={
        "input_tokens": 3000, "output_tokens": 7, "total_tokens": 3007,
        "input_token_details": {"cache_read": 0, "cache_creation": 0, "ephemeral_5m_input_tokens": 500,
                                "ephemeral_1h_input_tokens": 1500, "audio": 40},
        "output_token_details": {"audio": 5}},
        response_metadata={"model_name": "gpt-audio", "finish_reason": "stop"})
    with capture() as cap:
        GenericFakeChatModel(messages=iter([message])).invoke("hello")
    attrs = cap.spans()[0].attributes
    assert (attrs["gen_ai.usage.cache_write.input_tokens"], attrs["llm.usage.cache_write_1h.input_tokens"],
            attrs["gen_ai.usage.audio.input_tokens"], attrs["gen_ai.usage.audio.output_tokens"]) == (2000, 1500, 40, 5)


def test_streaming_records_time_to_first_chunk() -> None:
    chain = PROMPT | FakeListChatModel(responses=["a b c"]) | StrOutputParser()
    with capture() as cap:
        chunks = list(chain.stream({"context": "c", "question": "q"}))
    assert "".join(chunks) == "a b c"
    chat = cap.span("chat").attributes
    assert chat["llm.stream.chunks"] == 5 and chat["gen_ai.response.time_to_first_chunk"] >= 0
    assert tree(cap) == [("invoke_workflow RunnableSequence", ["ChatPromptTemplate", "chat", "StrOutputParser"])]


def test_abandoned_stream_ends_every_span_and_restores_the_context() -> None:
    chain = PROMPT | FakeListChatModel(responses=["a b c d"]) | StrOutputParser()
    before = trace.get_current_span()
    with capture() as cap:
        for _ in chain.stream({"context": "c", "question": "q"}):
            break
        assert trace.get_current_span() is before
    names = {s.name for s in cap.spans()}
    assert "invoke_workflow RunnableSequence" in names and "chat" in names


CALLS: list[Callable[[Any, Any], Any]] = [
    lambda chain, x: chain.invoke(x),
    lambda chain, x: "".join(chain.stream(x)),
    lambda chain, x: chain.batch([x, x]),
    lambda chain, x: asyncio.run(chain.ainvoke(x)),
    lambda chain, x: asyncio.run(_collect(chain.astream(x))),
    lambda chain, x: asyncio.run(chain.abatch([x, x])),
]


async def _collect(stream: Any) -> str:
    return "".join([c async for c in stream])


@pytest.mark.parametrize("call", CALLS, ids=["invoke", "stream", "batch", "ainvoke", "astream", "abatch"])
def test_differential_transparency(call: Callable[[Any, Any], Any], instrumented: LangChainInstrumentor) -> None:
    def run() -> Any:
        chain = rag_chain(FakeListChatModel(responses=["Paris is the capital."]))
        return call(chain, "capital of France?")
    traced, plain = traced_and_plain(instrumented, run)
    assert traced == plain and type(traced) is type(plain)


def test_abatch_runs_never_mix() -> None:
    model = FakeListChatModel(responses=[f"answer {i}" for i in range(8)])
    chain = RunnableLambda(lambda q: q.upper()).with_config(run_name="upper") | model

    async def main() -> list[Any]:
        return await chain.abatch([f"q{i}" for i in range(8)], config={"max_concurrency": 8})
    with capture(capture_content=True) as cap:
        asyncio.run(main())
    roots = [s for s in cap.snapshot() if s["parent_id"] is None]
    assert len(roots) == 8 and len({s["trace_id"] for s in roots}) == 8
    for root in roots:
        question = json.loads(root["attributes"]["llm.input"])
        kids = [s for s in cap.snapshot() if s["parent_id"] == root["span_id"]]
        assert [k["name"] for k in kids] == ["upper", "chat"]
        assert all(k["trace_id"] == root["trace_id"] for k in kids)
        chat_input = json.loads(kids[1]["attributes"]["gen_ai.input.messages"])
        assert chat_input[0]["parts"][0]["content"] == question.upper()


def test_threads_keep_their_own_parents() -> None:
    chain = RunnableLambda(lambda q: q).with_config(run_name="echo") | FakeListChatModel(responses=["ok"] * 16)
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        with tracer.start_as_current_span(f"request {i}"):
            barrier.wait()
            chain.invoke(f"q{i}")
    with capture() as cap, ThreadPoolExecutor(8) as pool:
        tracer = cap.tracer_provider.get_tracer("app")
        list(pool.map(work, range(8)))
    spans = cap.snapshot()
    for i in range(8):
        (request,) = [s for s in spans if s["name"] == f"request {i}"]
        (root,) = [s for s in spans if s["parent_id"] == request["span_id"]]
        assert root["name"] == "invoke_workflow RunnableSequence"
        kids = [s["name"] for s in spans if s["parent_id"] == root["span_id"]]
        assert kids == ["echo", "chat"]


def test_code_inside_a_runnable_nests_under_it() -> None:
    def step(x: str) -> str:
        with cap.tracer_provider.get_tracer("app").start_as_current_span("user code"):
            return x
    chain = RunnableLambda(step).with_config(run_name="step") | RunnableLambda(lambda x: x)
    with capture() as cap:
        chain.invoke("x")
    assert tree(cap) == [("invoke_workflow RunnableSequence", [("step", ["user code"]), "RunnableLambda"])]
    assert trace.get_current_span() is trace.INVALID_SPAN


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool
def get_time(city: str) -> str:
    """The local time in a city."""
    return "12:00"


@tool
def broken(city: str) -> str:
    """Always fails."""
    raise ValueError(f"no data for {city}")


def react_agent(tools: list[Any], first: AIMessage) -> Any:
    from langgraph.prebuilt import create_react_agent
    model = ToolFakeChatModel(messages=iter([first, AIMessage(content="Sunny, noon.")]))
    try:
        return create_react_agent(model, tools, name="helper")
    except TypeError:  # langgraph < 0.3 names graphs through the run config only
        return create_react_agent(model, tools).with_config(run_name="helper")


def two_calls() -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"},
                                             {"name": "get_time", "args": {"city": "Paris"}, "id": "call_2"}])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_agent_with_two_tool_calls() -> None:
    pytest.importorskip("langgraph")
    agent = react_agent([get_weather, get_time], two_calls())
    with capture(capture_content=True) as cap:
        result = agent.invoke({"messages": [("user", "Weather in Paris?")]})
    assert result["messages"][-1].content == "Sunny, noon."
    spans = cap.snapshot()
    (root,) = [s for s in spans if s["parent_id"] is None]
    assert root["name"] == "invoke_agent helper"
    assert root["attributes"]["gen_ai.agent.name"] == "helper"
    nodes = [(n["name"], n["attributes"]["llm.langgraph.step"]) for n in spans if n["parent_id"] == root["span_id"]]
    # LangGraph ≥ 0.3 runs each tool call in a node of its own; older releases run both in one.
    assert nodes in ([("agent", 1), ("tools", 2), ("tools", 2), ("agent", 3)],
                     [("agent", 1), ("tools", 2), ("agent", 3)])
    tools = [s for s in spans if s["name"].startswith("execute_tool")]
    assert sorted((t["name"], t["attributes"]["gen_ai.tool.call.id"]) for t in tools) == [
        ("execute_tool get_time", "call_2"), ("execute_tool get_weather", "call_1")]
    for t in tools:
        parent = next(s for s in spans if s["span_id"] == t["parent_id"])
        assert parent["name"] == "tools"
    weather = next(t for t in tools if t["name"] == "execute_tool get_weather")["attributes"]
    assert json.loads(weather["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert json.loads(weather["gen_ai.tool.call.result"]) == "sunny in Paris"
    assert weather["gen_ai.tool.description"] == "The weather in a city."
    chats = [s for s in spans if s["name"] == "chat"]
    assert len(chats) == 2
    metrics = cap.metrics()
    assert sorted(p["attributes"]["gen_ai.tool.name"] for p in metrics["gen_ai.execute_tool.duration"]) == [
        "get_time", "get_weather"]
    assert [p["attributes"]["gen_ai.agent.name"] for p in metrics["gen_ai.invoke_agent.duration"]] == ["helper"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_error_inside_a_tool() -> None:
    pytest.importorskip("langgraph")
    first = AIMessage(content="", tool_calls=[{"name": "broken", "args": {"city": "Oz"}, "id": "call_9"}])
    agent = react_agent([broken], first)
    raised = None
    with capture() as cap:
        try:
            agent.invoke({"messages": [("user", "Weather in Oz?")]})
        except ValueError as exc:  # recent ToolNodes re-raise; older ones answer with an error message
            raised = exc
    root = cap.span("invoke_agent helper")
    if raised is not None:
        assert str(raised) == "no data for Oz"
        assert root.status.status_code.name == "ERROR" and root.attributes["error.type"] == "ValueError"
    else:
        assert root.status.status_code.name == "UNSET"
    span = cap.span("execute_tool broken")
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "ValueError"
    assert any(e.name == "exception" for e in span.events)
    (point,) = cap.metrics()["gen_ai.execute_tool.duration"]
    assert point["attributes"]["error.type"] == "ValueError"
    # Called directly, the tool raises exactly what it raises uninstrumented.
    with capture() as cap2, pytest.raises(ValueError, match="no data for Oz"):
        broken.invoke({"city": "Oz"})
    assert cap2.span("execute_tool broken").status.status_code.name == "ERROR"


class FailingChatModel(FakeListChatModel):
    def _call(self, *args: Any, **kwargs: Any) -> str:
        raise ConnectionError("model unavailable")


def test_error_inside_the_model() -> None:
    chain = PROMPT | FailingChatModel(responses=["x"]) | StrOutputParser()
    with capture() as cap, pytest.raises(ConnectionError, match="model unavailable"):
        chain.invoke({"context": "c", "question": "q"})
    chat = cap.span("chat")
    assert chat.status.status_code.name == "ERROR" and chat.attributes["error.type"] == "ConnectionError"
    root = cap.span("invoke_workflow RunnableSequence")
    assert root.status.status_code.name == "ERROR" and root.attributes["error.type"] == "ConnectionError"
    (point,) = cap.metrics()["gen_ai.client.operation.duration"]
    assert point["attributes"]["error.type"] == "ConnectionError"


class State(TypedDict):
    question: str
    answer: str


def test_langgraph_graph_and_nodes() -> None:
    pytest.importorskip("langgraph")
    from langgraph.graph import END, START, StateGraph

    model = FakeListChatModel(responses=["Paris."])

    def plan(state: State) -> dict[str, Any]:
        return {"question": state["question"].strip()}

    def answer(state: State) -> dict[str, Any]:
        return {"answer": model.invoke(state["question"]).content}

    graph = StateGraph(State)
    graph.add_node("plan", plan)
    graph.add_node("respond", answer)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "respond")
    graph.add_edge("respond", END)
    try:
        app = graph.compile(name="qa")
    except TypeError:  # langgraph < 0.3
        app = graph.compile().with_config(run_name="qa")
    with capture() as cap:
        assert app.invoke({"question": " capital? "})["answer"] == "Paris."
    assert tree(cap) == [("invoke_workflow qa", ["plan", ("respond", ["chat"])])]
    nodes = {s["name"]: s["attributes"] for s in cap.snapshot() if s["name"] in ("plan", "respond")}
    assert nodes["plan"]["llm.langgraph.node"] == "plan" and nodes["plan"]["llm.framework"] == "langgraph"
    assert nodes["respond"]["llm.langgraph.step"] == 2


def test_context_helpers_and_run_config_tags_and_metadata() -> None:
    chain = PROMPT | FakeListChatModel(responses=["ok"])
    with capture() as cap, observatory.session("s-1"), observatory.user("u-1"):
        chain.invoke({"context": "c", "question": "q"},
                     config={"tags": ["prod"], "metadata": {"tenant": "acme", "attempt": 2}, "run_name": "qa"})
    root = cap.span("invoke_workflow qa").attributes
    assert root["session.id"] == "s-1" and root["user.id"] == "u-1"
    assert list(root["llm.langchain.tags"]) == ["prod"]
    assert root["llm.langchain.metadata.tenant"] == "acme" and root["llm.langchain.metadata.attempt"] == 2
    chat = cap.span("chat").attributes
    assert chat["session.id"] == "s-1" and list(chat["llm.langchain.tags"]) == ["prod"]


def test_uninstrument_stops_tracing_and_instrument_is_idempotent(instrumented: LangChainInstrumentor) -> None:
    model = FakeListChatModel(responses=["ok"])
    instrumented.instrument()  # a second time: a no-op
    with capture() as cap:
        model.invoke("x")
    assert len(cap.spans()) == 1
    from langchain_core.callbacks import manager

    patched = manager._configure
    assert patched.__wrapped__ is not patched  # where every run's callback manager is made
    instrumented.uninstrument()
    try:
        assert manager._configure is patched.__wrapped__  # the original, restored
        with capture() as cap:
            model.invoke("x")
        assert cap.spans() == []
    finally:
        instrumented.instrument()


def test_a_failing_handler_never_breaks_the_chain(monkeypatch: pytest.MonkeyPatch,
                                                  instrumented: LangChainInstrumentor) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug in our code")
    monkeypatch.setattr(instrumented.handler, "_start", boom)
    monkeypatch.setattr("llm_observatory.instrumentation.langchain._handler.Inference", boom)
    chain = PROMPT | FakeListChatModel(responses=["ok"]) | StrOutputParser()
    with capture():
        assert chain.invoke({"context": "c", "question": "q"}) == "ok"


def test_runs_still_open_at_shutdown_are_ended_unfinished_children_first() -> None:
    from llm_observatory.instrumentation._core._shutdown import end_open

    entered, hold, results = threading.Event(), threading.Event(), []

    def slow(question: str) -> str:
        entered.set()
        hold.wait(30)
        return question

    chain = RunnableLambda(slow).with_config(run_name="slow") | FakeListChatModel(responses=["Paris."])
    with capture() as cap:
        worker = threading.Thread(target=lambda: results.append(chain.invoke("Capital of France?")))
        worker.start()
        try:
            assert entered.wait(10)
            assert end_open() >= 2  # (and whatever an earlier test left open)
            # the sequence and the step inside it; the model call has not started
            ended = [(s.name, dict(s.attributes or {}).get("llm.unfinished")) for s in cap.spans()]
            assert ended == [("slow", True), ("invoke_workflow RunnableSequence", True)]  # children first
        finally:
            hold.set()
            worker.join(10)
        assert results == [AIMessage(content="Paris.", id=results[0].id)]  # the chain itself goes on
        names = [s.name for s in cap.spans()]
    assert sorted(names) == sorted(["slow", "invoke_workflow RunnableSequence", "chat"])  # none ended twice
