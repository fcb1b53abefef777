"""Every way a chat stream can end ends its span exactly once, with what arrived so far."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from typing import Any

import openai
import pytest
from opentelemetry import trace

from llm_observatory.testing import Capture, capture

from .conftest import MESSAGES, make_client
from .fake_openai import FakeOpenAI, httpx

#: every test twice: the chunks read at the end, and spilled in batches (as a long stream's are)
pytestmark = pytest.mark.usefixtures("spill_sizes")

#: A transport error mid-stream: openai 3.x wraps it in APIConnectionError, older releases raise it as is.
CUT_ERRORS = (openai.APIConnectionError, httpx.ReadError)


def one_span(cap: Capture) -> Any:
    spans = [s for s in cap.spans() if s.name.startswith("chat")]
    assert len(spans) == 1, [s.name for s in cap.spans()]
    return spans[0]


def create(client: Any, **kwargs: Any) -> Any:
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, **kwargs)


def test_consumed_with_include_usage(client: Any) -> None:
    with capture() as cap:
        stream = create(client, stream_options={"include_usage": True})
        assert type(stream) is openai.Stream  # the SDK's own object, not a proxy
        texts, seen = [], 0
        for chunk in stream:
            assert trace.get_current_span() is trace.INVALID_SPAN
            texts += [c.delta.content for c in chunk.choices if c.delta.content]
            seen += 1
    assert "".join(texts) == "This is a test."
    a = one_span(cap).attributes
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (12, 4)
    assert "llm.usage.estimated" not in a
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert a["llm.cost.priced"] is True
    m = cap.metrics()
    assert m["gen_ai.client.operation.time_to_first_chunk"][0]["count"] == 1
    assert m["gen_ai.client.operation.time_per_output_chunk"][0]["count"] == seen - 1  # each chunk after the first


def test_without_include_usage_the_usage_is_estimated(client: Any, fake: FakeOpenAI) -> None:
    with capture() as cap:
        chunks = list(create(client))
    assert all(c.usage is None for c in chunks)
    assert "stream_options" not in fake.requests[0]["body"]  # nothing injected by default
    a = one_span(cap).attributes
    assert a["llm.usage.estimated"] is True
    # o200k: "This is a test." = 5 tokens; the prompt: two messages of 4 and 5 tokens + overheads
    from llm_observatory.pricing import tokens
    enc = tokens.get_encoding("o200k_base")
    prompt = sum(len(enc.encode(m["content"])) + 3 for m in MESSAGES) + 3
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (prompt, len(enc.encode("This is a test.")))
    assert a["llm.cost.usd"] > 0


def test_a_stream_ending_while_the_encoding_loads_does_not_wait_for_it(
        client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first stream without usage in a process may end before the tokenizer's encoding has
    # loaded: its estimate is left to the background thread, and the app's loop goes on at once.
    import time

    from llm_observatory.pricing import tokens

    enc = tokens.get_encoding("o200k_base")
    real_load = tokens._load

    def slow_load(name: str) -> Any:
        time.sleep(1.0)
        return real_load(name)

    monkeypatch.setattr(tokens, "_encodings", {})
    monkeypatch.setattr(tokens, "_loading", set())
    monkeypatch.setattr(tokens, "_overdue", set())
    monkeypatch.setattr(tokens, "_load", slow_load)
    monkeypatch.setattr(tokens, "LOAD_WAIT_S", 60.0)  # (however slow the machine, the load is waited for)
    with capture() as cap:
        t0 = time.perf_counter()
        chunks = list(create(client))
        took = time.perf_counter() - t0
        assert not tokens.ready("openai", "gpt-4o-mini")  # still loading when the loop ended
        (span,) = cap.spans()  # (which does the background thread's work first)
    assert took < 0.8 and chunks
    a = span.attributes
    prompt = sum(len(enc.encode(m["content"])) + 3 for m in MESSAGES) + 3
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (prompt, len(enc.encode("This is a test.")))
    assert a["llm.usage.estimated"] is True
    assert (span.end_time - span.start_time) / 1e9 < took  # as of the stream's end, not the estimate's


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("content", [False, True], ids=["first-and-last", "every-chunk"])
def test_stream_usage_option_injects_and_hides_the_usage_chunk(fake: FakeOpenAI, is_async: bool, content: bool) -> None:
    """(Content capture reads every chunk; without it, only the first and the last few.)"""
    async def read_async() -> list[Any]:
        client = make_client(fake, is_async=True)
        return [c async for c in await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                                       stream=True)]

    with capture(stream_usage=True, capture_content=content) as cap:
        chunks = asyncio.run(read_async()) if is_async else list(create(make_client(fake)))
    assert fake.requests[0]["body"]["stream_options"] == {"include_usage": True}
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)  # the app sees no usage chunk
    without = list(make_client(FakeOpenAI()).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                                      stream=True))
    assert [c.model_dump() for c in chunks] == [c.model_dump() for c in without]
    a = one_span(cap).attributes
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (12, 4)
    assert "llm.usage.estimated" not in a
    assert a["llm.stream.chunks"] == len(chunks)
    if content:
        assert "This is a test." in a["gen_ai.output.messages"]


def test_break_then_close(client: Any) -> None:
    with capture() as cap:
        stream = create(client)
        for _ in stream:
            break
        assert cap.spans() == []
        stream.close()
    a = one_span(cap).attributes
    assert a["gen_ai.response.finish_reasons"] == ("error",)
    assert a["llm.stream.chunks"] == 1


def test_break_without_close_ends_at_gc(client: Any) -> None:
    with capture() as cap:
        stream = create(client)
        next(iter(stream))
        del stream
        gc.collect()
        assert one_span(cap).attributes["gen_ai.response.finish_reasons"] == ("error",)


def test_dropped_inside_an_exporters_lock_does_not_deadlock(client: Any) -> None:
    # openai's stream is in a reference cycle: the garbage collector ends it, wherever an
    # allocation sets it off, inside whatever lock is held there (the exporter's, which the end takes)
    with capture() as cap:
        stream = create(client)
        next(iter(stream))
        collected = threading.Event()

        def drop_inside_the_lock() -> None:
            nonlocal stream
            with cap._spans._lock:
                del stream
                gc.collect()
            collected.set()

        threading.Thread(target=drop_inside_the_lock, daemon=True).start()
        assert collected.wait(10), "the stream's end waited for a lock its own thread held"
        assert one_span(cap).attributes["gen_ai.response.finish_reasons"] == ("error",)


def test_user_exception_in_loop_body(client: Any) -> None:
    with capture() as cap, pytest.raises(ZeroDivisionError), create(client) as stream:
        for _ in stream:
            1 / 0  # noqa: B018
    span = one_span(cap)
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "ZeroDivisionError"


def test_with_block_exited_early(client: Any) -> None:
    with capture() as cap:
        with create(client) as stream:
            next(stream)
        assert isinstance(stream, openai.Stream)
    span = one_span(cap)
    assert span.status.status_code.name == "UNSET"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


def test_transport_error_mid_stream(fake: FakeOpenAI) -> None:
    fake.cut_after_chunks = 3
    with capture() as cap:
        got = []
        with pytest.raises(CUT_ERRORS) as info:
            for chunk in create(make_client(fake)):
                got.append(chunk)
    assert len(got) == 3
    span = one_span(cap)
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"].endswith(type(info.value).__name__)
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert span.attributes["llm.usage.estimated"] is True  # what arrived is still counted


def test_tool_call_stream_with_content(fake: FakeOpenAI) -> None:
    fake.tool_calls = [("call_a", "lookup", '{"q": "paris"}'), ("call_b", "lookup", '{"q": "rome"}')]
    with capture(capture_content=True) as cap:
        list(create(make_client(fake)))
    a = one_span(cap).attributes
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "tool_call", "id": "call_a", "name": "lookup", "arguments": {"q": "paris"}},
        {"type": "tool_call", "id": "call_b", "name": "lookup", "arguments": {"q": "rome"}}]


def test_multiple_choices_streaming_cut(fake: FakeOpenAI) -> None:
    with capture() as cap:
        stream = create(make_client(fake), n=2)
        next(stream), next(stream), next(stream)
        stream.close()
    assert one_span(cap).attributes["gen_ai.response.finish_reasons"] == ("error", "error")


def test_stream_helper_consumed(client: Any) -> None:
    with capture() as cap:
        with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
            deltas = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == final.choices[0].message.content == "This is a test."
    assert one_span(cap).attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_stream_helper_exited_early_ends_at_exit(client: Any) -> None:
    with capture() as cap:
        with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
            for event in stream:
                if event.type == "content.delta":
                    break
        assert one_span(cap).attributes["gen_ai.response.finish_reasons"] == ("error",)
        assert stream is not None  # the helper object is still referenced: the span ended at exit, not at GC


def test_stream_helper_until_done(client: Any) -> None:
    with capture() as cap, client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        stream.until_done()
    assert one_span(cap).attributes["gen_ai.response.finish_reasons"] == ("stop",)


def _helper_of(client: Any, api: str) -> Any:
    if api == "chat":
        return client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES)
    return client.responses.stream(model="gpt-4o-mini", input="Say this is a test")


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_an_exception_leaving_a_stream_helpers_with_block_fails_its_span(client: Any, api: str) -> None:
    """As with the raw stream's own ``with``: the exception the helper's manager is handed on exit
    (the user's loop body's here; the SDK's own, should its helper fail on a chunk) is the span's."""
    with capture() as cap, pytest.raises(ZeroDivisionError), _helper_of(client, api) as stream:
        for _ in stream:
            1 / 0  # noqa: B018
    span = one_span(cap)
    assert span.status.status_code.name == "ERROR" and span.attributes["error.type"] == "ZeroDivisionError"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_an_exception_leaving_an_async_stream_helpers_with_block_fails_its_span(aclient: Any, api: str) -> None:
    with capture() as cap, pytest.raises(ZeroDivisionError):
        async with _helper_of(aclient, api) as stream:
            async for _ in stream:
                1 / 0  # noqa: B018
    span = one_span(cap)
    assert span.status.status_code.name == "ERROR" and span.attributes["error.type"] == "ZeroDivisionError"


def test_an_exception_leaving_a_contextlib_closing_block_fails_the_streams_span(client: Any) -> None:
    """``closing(stream)`` closes it from an ``__exit__(self, *exc_info)``: the exception is found there too."""
    import contextlib

    with capture() as cap, pytest.raises(ZeroDivisionError), contextlib.closing(create(client)) as stream:
        for _ in stream:
            1 / 0  # noqa: B018
    span = one_span(cap)
    assert span.status.status_code.name == "ERROR" and span.attributes["error.type"] == "ZeroDivisionError"


def test_a_stream_left_cleanly_inside_another_exit_handling_an_error_is_not_failed_by_it(client: Any) -> None:
    """The nearest exit decides: the stream's own ``with`` was left without an exception."""
    class Cleanup:
        def __enter__(self) -> Cleanup:
            return self

        def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
            with create(client) as stream:  # (a stream read in an exit that handles an error)
                next(stream)
            return True

    with capture() as cap, Cleanup():
        raise KeyError("handled by the exit")
    span = one_span(cap)
    assert span.status.status_code.name == "UNSET" and "error.type" not in span.attributes


def test_a_stream_read_by_a_generator_closed_early_is_cut_short_not_failed(client: Any) -> None:
    """The application's own generator reads the stream in a ``with`` (behind a streaming HTTP
    response, say) and is closed after its first item (the client went away): the stream's
    ``__exit__`` is handed a ``GeneratorExit``, which is a close, not a failure."""
    def texts() -> Any:
        with create(client) as stream:
            for chunk in stream:
                yield chunk.choices[0].delta.content if chunk.choices else ""

    with capture() as cap:
        gen = texts()
        next(gen)
        gen.close()
    span = one_span(cap)
    assert span.status.status_code.name == "UNSET" and "error.type" not in span.attributes
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


async def test_a_stream_read_by_an_async_generator_closed_early_is_cut_short_not_failed(aclient: Any) -> None:
    async def texts() -> Any:
        async with await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                         stream=True) as stream:
            async for chunk in stream:
                yield chunk

    with capture() as cap:
        gen = texts()
        await gen.__anext__()
        await gen.aclose()
    span = one_span(cap)
    assert span.status.status_code.name == "UNSET" and "error.type" not in span.attributes
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


@pytest.mark.parametrize("helper", [False, True], ids=["raw", "helper"])
def test_a_stream_closed_while_another_exception_is_handled_is_not_failed_by_it(client: Any, helper: bool) -> None:
    """A close in an ``except`` block: that exception is the application's, not the stream's."""
    with capture() as cap:
        stream = _helper_of(client, "chat").__enter__() if helper else create(client)
        next(iter(stream))
        try:
            raise KeyError("unrelated")
        except KeyError:
            stream.close()
    span = one_span(cap)
    assert span.status.status_code.name == "UNSET" and "error.type" not in span.attributes
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


def test_raw_response_stream(client: Any) -> None:
    with capture() as cap:
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        stream = raw.parse()
        assert isinstance(stream, openai.Stream)
        assert raw.parse() is stream
        assert cap.spans() == []
        list(stream)
    assert one_span(cap).attributes["gen_ai.response.finish_reasons"] == ("stop",)


async def test_async_consumed_and_cut(aclient: Any, fake: FakeOpenAI) -> None:
    with capture() as cap:
        stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                       stream_options={"include_usage": True})
        assert type(stream) is openai.AsyncStream
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        stream2 = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        await stream2.__anext__()
        await stream2.close()
    assert text == "This is a test."
    first, second = cap.spans()
    assert first.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert second.attributes["gen_ai.response.finish_reasons"] == ("error",)


async def test_async_context_manager_and_helper(aclient: Any) -> None:
    with capture() as cap:
        async with await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                         stream=True) as stream:
            await stream.__anext__()
        async with aclient.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as helper:
            async for event in helper:
                if event.type == "content.delta":
                    break
        assert [s.attributes["gen_ai.response.finish_reasons"] for s in cap.spans()] == [("error",), ("error",)]


async def test_async_transport_error(fake: FakeOpenAI) -> None:
    fake.cut_after_chunks = 2
    aclient = make_client(fake, is_async=True)
    with capture() as cap:
        stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        with pytest.raises(CUT_ERRORS):
            async for _ in stream:
                pass
    assert one_span(cap).status.status_code.name == "ERROR"


def test_cut_before_the_usage_chunk_is_estimated(fake: FakeOpenAI) -> None:
    fake.cut_after_chunks = 3
    with capture() as cap, pytest.raises(CUT_ERRORS):
        list(create(make_client(fake), stream_options={"include_usage": True}))
    a = one_span(cap).attributes
    assert a["llm.usage.estimated"] is True
    assert a["gen_ai.usage.output_tokens"] == 2  # "This is" arrived: two o200k tokens


class _Recorder:
    """A stream handler that keeps the chunks ``finish`` gets (with an optional ``window``)."""

    hide = None

    def __init__(self, window: int = 0) -> None:
        self.window = window
        self.seen: list[int] = []

    def finish(self, chunks: list[int]) -> None:
        self.seen = chunks


def test_a_stream_of_an_unknown_shape_is_proxied() -> None:
    """A stream without the SDK's private item generator is traced through a transparent proxy."""
    from llm_observatory.instrumentation._core._inference import Inference
    from llm_observatory.instrumentation._core._stream import SyncStreamProxy, end_stream, trace_stream
    from llm_observatory.instrumentation._core._telemetry import current

    class Chunks:
        def __init__(self) -> None:
            self.items = iter([1, 2, 3])

        def __iter__(self) -> Chunks:
            return self

        def __next__(self) -> int:
            return next(self.items)

        def close(self) -> None:
            pass

    with capture() as cap:
        handler = _Recorder()
        inference = Inference(current(), "chat", "openai", "gpt-4o-mini", stream=True)
        traced = trace_stream(Chunks(), inference, handler, is_async=False)
        assert isinstance(traced, SyncStreamProxy) and isinstance(traced, Chunks)
        assert next(traced) == 1
        end_stream(traced)
        assert inference.done and handler.seen == [1]
    span = one_span(cap)
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)


@pytest.mark.parametrize("proxied", [False, True], ids=["tapped", "proxied"])
def test_a_handler_with_a_window_gets_the_first_chunk_and_the_last_few(proxied: bool) -> None:
    """Tapped or proxied, a handler's ``window`` gives it the first chunk and the last ``window``,
    and the inference the count of all."""
    from llm_observatory.instrumentation._core._inference import Inference
    from llm_observatory.instrumentation._core._stream import trace_stream
    from llm_observatory.instrumentation._core._telemetry import current

    class Chunks:
        def __init__(self) -> None:
            self._iterator = (i for i in range(1, 11))

        def __iter__(self) -> Any:
            return self._iterator if not proxied else iter(self._iterator)

        def __next__(self) -> int:
            return next(self._iterator)

        def close(self) -> None:
            pass

    stream = Chunks()
    if proxied:
        stream._iterator = iter(list(range(1, 11)))  # type: ignore[assignment]  # not a generator: proxied
    with capture():
        handler = _Recorder(window=3)
        inference = Inference(current(), "chat", "openai", "gpt-4o-mini", stream=True)
        traced = trace_stream(stream, inference, handler, is_async=False)
        assert list(traced) == list(range(1, 11))
        assert inference.done and handler.seen == [1, 8, 9, 10] and inference.chunks == 10


async def test_async_user_exception_in_loop_body_and_close_twice(aclient: Any) -> None:
    with capture() as cap:
        with pytest.raises(ZeroDivisionError):
            stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
            async with stream:
                async for _ in stream:
                    1 / 0  # noqa: B018
        stream2 = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        await stream2.__anext__()
        await stream2.close()
        await stream2.close()  # a second close: no second end
    first, second = sorted(cap.spans(), key=lambda s: s.start_time)
    assert first.status.status_code.name == "ERROR"
    assert first.attributes["error.type"] == "ZeroDivisionError"
    assert second.status.status_code.name == "UNSET"
    assert second.attributes["gen_ai.response.finish_reasons"] == ("error",)


def _stalling_client(fake: FakeOpenAI, stall: asyncio.Event, after: int) -> Any:
    """An async client whose answers stall (until ``stall`` is set): a call at once, a stream after
    ``after`` chunks."""
    chunks = fake._chat_chunks({})

    class Stalling(httpx.AsyncByteStream):  # type: ignore[misc]
        async def __aiter__(self) -> Any:
            for i, chunk in enumerate(chunks):
                if i == after:
                    await stall.wait()
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            yield b"data: [DONE]\n\n"

    async def handler(request: Any) -> Any:
        body = json.loads(request.content)
        if body.get("stream"):
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Stalling())
        await stall.wait()
        return httpx.Response(200, json=fake._chat(body))

    return openai.AsyncOpenAI(api_key="sk-test", max_retries=0,
                              http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


async def test_cancelled_call_and_stream_end_their_spans(fake: FakeOpenAI, instrumented: Any) -> None:
    async def run(client: Any) -> tuple[str, int]:
        try:
            await asyncio.wait_for(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES), 0.05)
        except BaseException as exc:  # what the user sees of a timeout
            raised = type(exc).__name__
        got: list[Any] = []
        two = asyncio.Event()

        async def consume() -> None:
            async for chunk in await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                                    stream=True):
                got.append(chunk)
                if len(got) == 2:
                    two.set()

        task = asyncio.create_task(consume())
        await two.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return raised, len(got)

    instrumented.uninstrument()
    try:
        plain = await run(_stalling_client(fake, asyncio.Event(), after=2))
    finally:
        instrumented.instrument()
    with capture() as cap:
        traced = await run(_stalling_client(fake, asyncio.Event(), after=2))
    assert traced == plain == ("TimeoutError", 2)  # the same exception, the same chunks, with and without us
    call, stream = cap.spans()
    for span in (call, stream):
        assert span.status.status_code.name == "ERROR"
        assert span.attributes["error.type"] == "asyncio.CancelledError"
    assert "gen_ai.response.finish_reasons" not in call.attributes
    assert stream.attributes["gen_ai.response.finish_reasons"] == ("error",)  # cut: what arrived is kept
    assert stream.attributes["llm.stream.chunks"] == 2
