"""Anthropic streams (raw and the stream() helper) end once on every exit; native SDK tracing is
coordinated with: exactly one inference span per call, whether native tracing is on, off or default."""

from __future__ import annotations

import gc
from typing import Any

import anthropic
import pytest
from opentelemetry import trace

from llm_observatory.testing import Capture, capture
from tests._sdk_state import check_uninstrument_restores

from .conftest import MESSAGES, make_client
from .fake_anthropic import FakeAnthropic, httpx

#: every test twice: the chunks read at the end, and spilled in batches (as a long stream's are)
pytestmark = pytest.mark.usefixtures("spill_sizes")

MODEL = "claude-sonnet-4-20250514"
CUT_ERRORS = (anthropic.APIConnectionError, httpx.ReadError)


def one(cap: Capture) -> Any:
    spans = [s for s in cap.spans() if s.name.startswith("chat")]
    assert len(spans) == 1, [s.name for s in cap.spans()]
    return spans[0]


def traceparent(span: Any) -> str:
    """The W3C ``traceparent`` header that carries ``span``'s context."""
    return f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-01"


def create(client: Any) -> Any:
    return client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES, stream=True)


def test_stream_consumed_usage_from_start_and_delta(fake: FakeAnthropic) -> None:
    fake.cache_read = 7
    with capture() as cap:
        for _event in create(make_client(fake)):
            assert trace.get_current_span() is trace.INVALID_SPAN
    a = one(cap).attributes
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"], a["gen_ai.usage.cache_read.input_tokens"]) \
        == (13 + 7, 5, 7)
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert "llm.usage.estimated" not in a


def test_break_then_close_and_gc(client: Any) -> None:
    with capture() as cap:
        stream = create(client)
        next(iter(stream))
        stream.close()
        stream2 = create(client)
        next(iter(stream2))
        del stream2
        gc.collect()
    first, second = cap.spans()
    for span in (first, second):
        assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
        assert span.attributes["gen_ai.usage.input_tokens"] == 13  # message_start arrived
        assert span.attributes["llm.usage.estimated"] is True  # the output count did not


def test_user_exception_and_early_with_exit(client: Any) -> None:
    with capture() as cap:
        with pytest.raises(KeyError), create(client) as stream:
            for _ in stream:
                raise KeyError("boom")
        with create(client) as stream:
            next(iter(stream))
    failed, early = cap.spans()
    assert failed.attributes["error.type"] == "KeyError"
    assert early.status.status_code.name == "UNSET"
    assert early.attributes["gen_ai.response.finish_reasons"] == ("error",)


def test_transport_error_mid_stream(fake: FakeAnthropic) -> None:
    fake.cut_after_events = 4
    with capture() as cap, pytest.raises(CUT_ERRORS):
        list(create(make_client(fake)))
    span = one(cap)
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


def test_helper_text_stream_and_final_message(client: Any) -> None:
    with capture(capture_content=True) as cap, \
            client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello! How can I help?" == final.content[0].text
    a = one(cap).attributes
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert '"content":"Hello! How can I help?"' in a["gen_ai.output.messages"]


def test_helper_until_done_and_early_exit(client: Any) -> None:
    with capture() as cap:
        with client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as stream:
            stream.until_done()
        with client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as stream:
            for event in stream:
                if event.type == "content_block_delta":
                    break
        assert [s.attributes["gen_ai.response.finish_reasons"] for s in cap.spans()] == [("stop",), ("error",)]


def test_an_exception_leaving_the_helpers_with_block_fails_its_span(client: Any) -> None:
    """As with the raw stream's own ``with``: the exception the helper's manager is handed on exit is the span's."""
    with capture() as cap, pytest.raises(ZeroDivisionError), \
            client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as stream:
        for _ in stream.text_stream:
            1 / 0  # noqa: B018
    [span] = cap.spans()
    assert span.status.status_code.name == "ERROR" and span.attributes["error.type"] == "ZeroDivisionError"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


async def test_an_exception_leaving_the_async_helpers_with_block_fails_its_span(aclient: Any) -> None:
    with capture() as cap, pytest.raises(ZeroDivisionError):
        async with aclient.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as stream:
            async for _ in stream:
                1 / 0  # noqa: B018
    [span] = cap.spans()
    assert span.status.status_code.name == "ERROR" and span.attributes["error.type"] == "ZeroDivisionError"


def test_a_helper_closed_while_another_exception_is_handled_is_not_failed_by_it(client: Any) -> None:
    with capture() as cap:
        stream = client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES).__enter__()
        next(iter(stream))
        try:
            raise KeyError("unrelated")
        except KeyError:
            stream.close()
    [span] = cap.spans()
    assert span.status.status_code.name == "UNSET" and "error.type" not in span.attributes


def test_helper_tool_use_stream(fake: FakeAnthropic) -> None:
    fake.tool_use = ("toolu_9", "lookup", {"q": "x"})
    with capture(capture_content=True) as cap, \
            make_client(fake).messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert final.content[0].input == {"q": "x"}
    a = one(cap).attributes
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert '"arguments":{"q":"x"}' in a["gen_ai.output.messages"]


def test_helper_never_entered_makes_no_span(client: Any) -> None:
    with capture() as cap:
        client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES)
    assert cap.spans() == []


async def test_async_streams_and_helper(aclient: Any) -> None:
    with capture() as cap:
        stream = await aclient.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES, stream=True)
        # the SDK's own object (anthropic 0.x's AsyncStream metaclass accepts nothing but the exact class)
        assert type(stream) is anthropic.AsyncStream
        async for _ in stream:
            pass
        async with aclient.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as helper:
            text = "".join([t async for t in helper.text_stream])
        async with aclient.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as helper:
            async for _ in helper:
                break
    assert text == "Hello! How can I help?"
    assert [s.attributes["gen_ai.response.finish_reasons"] for s in cap.spans()] == [("stop",), ("stop",), ("error",)]


# --- native SDK tracing ---------------------------------------------------------------------------
NATIVE_SCOPE = "com.anthropic.sdk.python"
needs_native = pytest.mark.skipif(not hasattr(anthropic._base_client, "start_api_call_span"),
                                  reason="this anthropic release has no native tracing")


@needs_native
@pytest.mark.parametrize("mode", ["default", "on-with-content", "off"])
def test_one_inference_span_whatever_native_tracing_says(fake: FakeAnthropic, mode: str) -> None:
    with capture() as cap:
        options: dict[str, Any] = {
            "default": {"tracer_provider": cap.tracer_provider},
            "on-with-content": {"tracer_provider": cap.tracer_provider,
                                "traces": {"enabled": True, "content_mode": "content"}},
            "off": {"tracer_provider": cap.tracer_provider, "traces": False},
        }[mode]
        client = make_client(fake, open_telemetry=options)
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
        list(client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, stream=True))
        with client.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as stream:
            stream.until_done()
        client.messages.count_tokens(model=MODEL, messages=MESSAGES)
    spans = cap.spans()
    assert [s.instrumentation_scope.name for s in spans] == ["llm_observatory"] * 4
    assert [s.name for s in spans] == [f"chat {MODEL}"] * 3 + [f"count_tokens {MODEL}"]
    assert all(s.attributes["llm.cost.priced"] is True for s in spans[:3])
    assert sum(p["count"] for p in cap.metrics()["gen_ai.client.operation.duration"]) == 4
    # The SDK sends its span's trace context unless its tracing is off; ours takes its place.
    for span, request in zip(spans, fake.requests, strict=True):
        header = request["headers"].get("traceparent")
        if mode == "off":
            assert header is None
        else:
            assert header == traceparent(span)


@needs_native
def test_calls_we_do_not_trace_keep_their_native_span(fake: FakeAnthropic) -> None:
    def handle(request: Any) -> Any:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [], "has_more": False, "first_id": None, "last_id": None})
        return fake.handle(request)

    with capture() as cap:
        client = anthropic.Anthropic(api_key="k", max_retries=0, open_telemetry={"tracer_provider": cap.tracer_provider},
                                     http_client=httpx.Client(transport=httpx.MockTransport(handle)))
        client.models.list()
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    assert [s.instrumentation_scope.name for s in cap.spans()] == [NATIVE_SCOPE, "llm_observatory"]


@needs_native
@pytest.mark.parametrize("is_async", [False, True])
async def test_inside_our_calls_the_sdk_does_no_tracing_work(fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch,
                                                             is_async: bool) -> None:
    """The client has no tracer while our call runs: the SDK takes its path for a client without
    tracing, so none of its span work (attributes, span, ...) runs; outside our calls it has its tracer."""
    prepared: list[str] = []
    with capture() as cap:
        client = make_client(fake, is_async=is_async, open_telemetry={"tracer_provider": cap.tracer_provider})
        config = type(client._otel)
        original = config.api_call_start_attributes

        def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
            prepared.append("start")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(config, "api_call_start_attributes", counting)
        assert client._tracer is not None
        if is_async:
            await client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
            async for _ in await client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, stream=True):
                pass
        else:
            client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
            for _ in client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, stream=True):
                pass
    assert prepared == []
    spans = cap.spans()
    assert [s.instrumentation_scope.name for s in spans] == ["llm_observatory"] * 2
    for span, request in zip(spans, fake.requests, strict=True):  # our span's context still goes out
        assert request["headers"].get("traceparent") == traceparent(span)


@needs_native
def test_uninstrument_gives_the_client_its_own_tracer_property_back() -> None:
    from llm_observatory.instrumentation.anthropic import AnthropicInstrumentor

    base = anthropic._base_client.BaseClient
    instrumented = vars(base)["_tracer"]
    inst = AnthropicInstrumentor()  # the module's instrumentor (one per process, as contrib's are)
    inst.uninstrument()
    try:
        native = vars(base)["_tracer"]
        assert native is not instrumented and isinstance(native, property)
        assert "_no_tracer_inside_ours" not in getattr(native.fget, "__qualname__", "")
    finally:
        inst.instrument()
    assert vars(base)["_tracer"] is not native


def test_uninstrument_puts_back_every_sdk_attribute(instrumented: Any) -> None:
    """After ``uninstrument()`` every attribute of anthropic's modules and classes is the object it
    was before ``instrument()`` (the native tracer property included), and instrumenting again
    changes the same ones again."""
    make_client(FakeAnthropic()).messages.create(model="claude-sonnet-4-20250514", max_tokens=10, messages=MESSAGES)
    check_uninstrument_restores(instrumented, "anthropic", {"Messages.create", "AsyncMessages.create"})


def _read(fake: FakeAnthropic, window: int, is_async: bool = False, stop_after: int | None = None,
          ) -> tuple[Any, int]:
    """One stream read with the handler's window set to ``window``: the span, and the most events
    alive at once while it was read (``stop_after``: close it after that many events)."""
    import asyncio
    import weakref

    from llm_observatory.instrumentation.anthropic import _handlers

    alive: list[Any] = []
    most = 0

    def seen(event: Any) -> None:
        nonlocal most
        alive.append(weakref.ref(event))
        most = max(most, sum(r() is not None for r in alive))

    async def read_async() -> None:
        stream = await make_client(fake, is_async=True).messages.create(
            model=MODEL, max_tokens=50, messages=MESSAGES, stream=True)
        async for event in stream:
            seen(event)
            del event  # (an event is let go by its reference count: no collection needed)
            if stop_after is not None and len(alive) == stop_after:
                break
        await stream.close()

    _handlers.WINDOW = window
    try:
        with capture() as cap:
            if is_async:
                asyncio.run(read_async())
            else:
                stream = create(make_client(fake))
                for event in stream:
                    seen(event)
                    del event
                    if stop_after is not None and len(alive) == stop_after:
                        break
                stream.close()
    finally:
        _handlers.WINDOW = 4
    return one(cap), most


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_with_content_off_only_the_first_and_last_events_are_held(is_async: bool) -> None:
    """Content off: the events between the first and the last four are let go as the user gets
    them, and the span is the one reading every event gives."""
    fake = FakeAnthropic(answer=" ".join(["word"] * 40))
    windowed, held = _read(fake, 4, is_async)
    whole, held_whole = _read(fake, 0, is_async)
    assert held <= 1 + 4
    if held_whole > 2:  # (not when every other event was spilled)
        assert held_whole > 40
    timing = "gen_ai.response.time_to_first_chunk"
    assert {k: v for k, v in windowed.attributes.items() if k != timing} == \
        {k: v for k, v in whole.attributes.items() if k != timing}
    assert windowed.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    # message_start, block start, 40 deltas, block stop, message_delta, message_stop (the SDK drops pings)
    assert windowed.attributes["llm.stream.chunks"] == 40 + 5


def test_a_windowed_stream_cut_early_estimates_its_unread_events_from_the_kept_ones() -> None:
    """Cut before its usage: each unread event counts the kept deltas' mean length. With deltas of
    about one length, that is within a few per cent of the estimate reading every event gives
    (a little over it: the block's start event counts as a delta)."""
    fake = FakeAnthropic(answer=" ".join(["word"] * 40))
    windowed, _ = _read(fake, 4, stop_after=30)
    whole, _ = _read(fake, 0, stop_after=30)
    for span in (windowed, whole):
        assert span.attributes["llm.usage.estimated"] is True
        assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    estimated, read = windowed.attributes["gen_ai.usage.output_tokens"], whole.attributes["gen_ai.usage.output_tokens"]
    assert read <= estimated <= read * 1.1
    assert windowed.attributes["gen_ai.usage.input_tokens"] == whole.attributes["gen_ai.usage.input_tokens"] == 13


class SigningAnthropic(anthropic.Anthropic):
    """Signs every header it is given in ``_prepare_request``, as the SDK's Bedrock client does (SigV4)."""

    def _prepare_request(self, request: Any) -> None:
        request.headers["x-signed-headers"] = ",".join(sorted(request.headers.keys()))


class AsyncSigningAnthropic(anthropic.AsyncAnthropic):
    async def _prepare_request(self, request: Any) -> None:
        request.headers["x-signed-headers"] = ",".join(sorted(request.headers.keys()))


def _signed_and_sent(fake: FakeAnthropic, cls: Any, is_async: bool, tracer_provider: Any,
                     stale: bool = True) -> list[tuple[str, str]]:
    """Each request's signed headers and the header names it went out with; with ``stale``, an
    old ``traceparent`` is among the client's default headers."""
    defaults = {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"} if stale else None
    client = cls(api_key="k", max_retries=0, default_headers=defaults,
                 http_client=(httpx.AsyncClient if is_async else httpx.Client)(transport=fake.transport()),
                 open_telemetry={"tracer_provider": tracer_provider})
    if is_async:
        import asyncio

        async def calls() -> None:
            await client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
            async for _ in await client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, stream=True):
                pass
        asyncio.run(calls())
    else:
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
        list(client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, stream=True))
    sent = fake.requests[-2:]
    return [(r["headers"]["x-signed-headers"], ",".join(sorted(r["headers"]))) for r in sent]


@needs_native
@pytest.mark.parametrize("is_async", [False, True])
def test_trace_context_goes_on_after_a_signing_client_signed(instrumented: Any, is_async: bool) -> None:
    """As the SDK does with its own span's: no signature covers the trace headers (a proxy or an
    HTTP-level instrumentation that rewrites ``traceparent`` would break it)."""
    cls = AsyncSigningAnthropic if is_async else SigningAnthropic
    fake = FakeAnthropic()
    with capture() as cap:
        ours = _signed_and_sent(fake, cls, is_async, cap.tracer_provider)
    spans = cap.spans()
    assert [s.instrumentation_scope.name for s in spans] == ["llm_observatory"] * 2
    for span, request in zip(spans, fake.requests, strict=True):
        assert request["headers"]["traceparent"] == traceparent(span)
    instrumented.uninstrument()
    try:
        with capture() as cap:
            native = _signed_and_sent(fake, cls, is_async, cap.tracer_provider)
        assert [s.instrumentation_scope.name for s in cap.spans()] == [NATIVE_SCOPE] * 2
    finally:
        instrumented.instrument()
    assert ours == native
    assert all("traceparent" not in signed.split(",") and "traceparent" in sent.split(",") for signed, sent in ours)


@needs_native
def test_a_signing_client_defined_after_instrumenting_sends_no_trace_context_rather_than_sign_it() -> None:
    class LateSigningAnthropic(SigningAnthropic):
        def _prepare_request(self, request: Any) -> None:
            request.headers["x-signed-headers"] = "late:" + ",".join(sorted(request.headers.keys()))

    fake = FakeAnthropic()
    with capture() as cap:
        [(signed, sent)] = _signed_and_sent(fake, LateSigningAnthropic, False, cap.tracer_provider,
                                              stale=False)[-1:]
    assert len([s for s in cap.spans() if s.name.startswith("chat")]) == 2
    assert "traceparent" not in signed.split(",") and "traceparent" not in sent.split(",")


@needs_native
@pytest.mark.parametrize("cloud", ["bedrock", "vertex"])
def test_the_sdks_authenticating_clients_send_our_trace_context(fake: FakeAnthropic, cloud: str) -> None:
    """Their ``_prepare_request`` (which authenticates, or signs) is wrapped too."""
    with capture() as cap:
        options: dict[str, Any] = {"http_client": httpx.Client(transport=fake.transport()), "max_retries": 0,
                                   "open_telemetry": {"tracer_provider": cap.tracer_provider}}
        client = anthropic.AnthropicBedrock(aws_region="us-east-1", api_key="k", **options) if cloud == "bedrock" \
            else anthropic.AnthropicVertex(region="us-east5", project_id="p", access_token="t", **options)
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    span = one(cap)
    [request] = fake.requests
    assert request["headers"]["authorization"] in ("Bearer k", "Bearer t")
    assert request["headers"]["traceparent"] == traceparent(span)
