"""The benchmarked workloads, shared by the timed bench (``__main__``) and the instruction counts
(``instructions``): real SDK calls over mock transports, and the bare spans they are compared with."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from opentelemetry import trace


def bare_span() -> None:
    """The floor: one bare span with 12 attributes."""
    with trace.get_tracer("bench").start_as_current_span("bare") as span:
        for i in range(12):
            span.set_attribute(f"attr.{i}", i)


def in_bare_span(fn: Callable[[], Any]) -> Callable[[], None]:
    """``fn`` run inside a bare span (the floor's span), for the floor in context."""
    tracer = trace.get_tracer("bench")

    def run() -> None:
        with tracer.start_as_current_span("bare") as span:
            for i in range(12):
                span.set_attribute(f"attr.{i}", i)
            fn()
    return run


def spans_per_call(inst: Any, call: Callable[[], Any]) -> int:
    """How many spans one instrumented ``call`` creates (``inst`` is left uninstrumented)."""
    from llm_observatory.testing import capture

    inst.instrument()
    with capture() as cap:
        call()
    inst.uninstrument()
    return len(cap.spans())


def openai_workload() -> dict[str, Callable[[], Any]] | None:
    """The real openai SDK over a mock transport: a chat ``call``, and a 50-chunk ``stream`` with
    usage (``None`` without openai)."""
    try:
        import openai
    except ImportError:
        return None
    from tests.openai.fake_openai import FakeOpenAI, httpx

    fake = FakeOpenAI(answer=" ".join(["word"] * 48))
    body = json.dumps(fake._chat({})).encode()
    chunks = fake._chat_chunks({"stream_options": {"include_usage": True}})
    assert len(chunks) == 51  # role chunk, 48 words, finish chunk, usage chunk
    sse = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks[1:]) + b"data: [DONE]\n\n"

    def handler(request: Any) -> Any:
        if b'"stream":true' in request.content:
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse)
        return httpx.Response(200, headers={"content-type": "application/json"}, content=body)

    client = openai.OpenAI(api_key="sk-bench", max_retries=0,
                           http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    messages = [{"role": "user", "content": "Say this is a test"}]

    def call() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, temperature=0.2)

    def stream() -> None:
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                                stream_options={"include_usage": True}):
            pass

    return {"call": call, "stream": stream}


def anthropic_workload() -> tuple[Callable[[bool], dict[str, Callable[[], Any]]], bool] | None:
    """The real anthropic SDK over a mock transport: ``(cases, has_native)``, where ``cases(native)``
    gives a message ``call`` and a 50-event ``stream`` on a client with the SDK's own tracing
    configured (``native``) or turned off (``None`` without anthropic)."""
    try:
        import anthropic
    except ImportError:
        return None
    from tests.anthropic.fake_anthropic import FakeAnthropic, httpx

    fake = FakeAnthropic(answer=" ".join(["word"] * 44))
    body = json.dumps(fake._message()).encode()
    events = fake._events()
    assert len(events) == 50  # message_start, block start, ping, 44 deltas, block stop, message_delta, stop
    sse = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)

    def handler(request: Any) -> Any:
        if b'"stream":true' in request.content:
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse)
        return httpx.Response(200, headers={"content-type": "application/json"}, content=body)

    provider = trace.get_tracer_provider()
    has_native = hasattr(anthropic._base_client, "start_api_call_span")
    messages = [{"role": "user", "content": "Say hello"}]
    model = "claude-sonnet-4-20250514"

    def cases(native: bool) -> dict[str, Callable[[], Any]]:
        kwargs: dict[str, Any] = {}
        if has_native:
            kwargs["open_telemetry"] = {"tracer_provider": provider} if native else False
        c = anthropic.Anthropic(api_key="sk-ant-bench", max_retries=0,
                                http_client=httpx.Client(transport=httpx.MockTransport(handler)), **kwargs)

        def call() -> Any:
            return c.messages.create(model=model, max_tokens=100, messages=messages)

        def stream() -> None:
            for _ in c.messages.create(model=model, max_tokens=100, messages=messages, stream=True):
                pass

        return {"call": call, "stream": stream}

    return cases, has_native


def llamaindex_query() -> Callable[[], Any] | None:
    """A LlamaIndex query (retriever, MockEmbedding, synthesizer, MockLLM) (``None`` without it)."""
    try:
        from llama_index.core import Document, VectorStoreIndex
        from llama_index.core.embeddings import MockEmbedding
        from llama_index.core.llms import MockLLM
    except ImportError:
        return None
    index = VectorStoreIndex.from_documents([Document(text="Paris is the capital of France."),
                                             Document(text="Berlin is the capital of Germany.")],
                                            embed_model=MockEmbedding(embed_dim=8))
    engine = index.as_query_engine(llm=MockLLM(max_tokens=8), similarity_top_k=1)

    def call() -> Any:
        return engine.query("What is the capital of France?")

    return call


def bare_llamaindex_bridge() -> tuple[Callable[[], None], Callable[[], None]]:
    """``(on, off)`` for the least a LlamaIndex → OpenTelemetry bridge can do for the same spans as
    ours: a bare span (12 attributes) per mapped dispatcher span and per model or embedding call."""
    from llama_index.core.instrumentation import get_dispatcher
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler
    from llama_index.core.instrumentation.span import SimpleSpan
    from llama_index.core.instrumentation.span_handlers import BaseSpanHandler

    from llm_observatory.instrumentation.llamaindex._content import span_kind

    tracer = trace.get_tracer("bench")
    open_spans: dict[str, Any] = {}

    def start(key: str, parent: Any) -> None:
        parent_span = open_spans.get(parent) if parent else None
        span = tracer.start_span("bare", trace.set_span_in_context(parent_span) if parent_span else None)
        for i in range(12):
            span.set_attribute(f"attr.{i}", i)
        open_spans[key] = span

    def end(key: str) -> None:
        span = open_spans.pop(key, None)
        if span is not None:
            span.end()

    class BareSpans(BaseSpanHandler[SimpleSpan]):  # type: ignore[misc]
        def span_enter(self, id_: str, bound_args: Any, instance: Any = None, parent_id: Any = None,
                       tags: Any = None, **kwargs: Any) -> None:
            if span_kind(instance, id_) is not None:
                start(id_, parent_id)

        def span_exit(self, id_: str, *args: Any, **kwargs: Any) -> None:
            end(id_)

        def span_drop(self, id_: str, *args: Any, **kwargs: Any) -> None:
            end(id_)

        def new_span(self, *args: Any, **kwargs: Any) -> None:
            return None

        def prepare_to_exit_span(self, *args: Any, **kwargs: Any) -> None:
            return None

        def prepare_to_drop_span(self, *args: Any, **kwargs: Any) -> None:
            return None

    class BareEvents(BaseEventHandler):  # type: ignore[misc]
        def handle(self, event: Any, **kwargs: Any) -> None:
            name = type(event).__name__
            if name in ("LLMCompletionStartEvent", "LLMChatStartEvent", "EmbeddingStartEvent"):
                start("model:" + str(event.span_id), event.span_id)
            elif name in ("LLMCompletionEndEvent", "LLMChatEndEvent", "EmbeddingEndEvent"):
                end("model:" + str(event.span_id))

    dispatcher = get_dispatcher()
    spans, events = BareSpans(), BareEvents()

    def on() -> None:
        dispatcher.span_handlers.append(spans)
        dispatcher.event_handlers.append(events)

    def off() -> None:
        dispatcher.span_handlers.remove(spans)
        dispatcher.event_handlers.remove(events)

    return on, off
