"""A chat stream's chunks are read once, at its end: shapes other servers send are read right,
and the chunks are let go when the span ends."""

from __future__ import annotations

import gc
import json
import weakref
from typing import Any

import openai
import pytest

from llm_observatory.testing import capture

from .conftest import MESSAGES
from .fake_openai import httpx

#: every test twice: the chunks read at the end, and spilled in batches (as a long stream's are)
pytestmark = pytest.mark.usefixtures("spill_sizes")


def _chunk(choices: list[dict[str, Any]], *, chunk_id: str = "chatcmpl-1", model: str = "gpt-4o-mini-2024-07-18",
           usage: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": chunk_id, "object": "chat.completion.chunk", "created": 1727000000, "model": model,
            "choices": choices, "usage": usage, **extra}


def _choice(index: int, content: str | None = None, finish_reason: str | None = None) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _client(chunks: list[dict[str, Any]]) -> Any:
    sse = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    return openai.OpenAI(api_key="sk-test", max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def _async_client(chunks: list[dict[str, Any]]) -> Any:
    sse = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    return openai.AsyncOpenAI(api_key="sk-test", max_retries=0,
                              http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def _run(chunks: list[dict[str, Any]], **kwargs: Any) -> tuple[dict[str, Any], list[Any]]:
    with capture() as cap:
        seen = list(_client(chunks).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                            **kwargs))
    (span,) = cap.spans()
    return dict(span.attributes or {}), seen


def test_a_content_filter_chunk_first_does_not_hide_the_response_id() -> None:
    """Azure opens with a chunk of prompt filter results, with an empty id and model."""
    chunks = [_chunk([], chunk_id="", model="", prompt_filter_results=[{"prompt_index": 0}]),
              _chunk([_choice(0, "Hi")], chunk_id="chatcmpl-azure"),
              _chunk([_choice(0, finish_reason="stop")], chunk_id="chatcmpl-azure")]
    attrs, seen = _run(chunks)
    assert len(seen) == 3
    assert attrs["gen_ai.response.id"] == "chatcmpl-azure"
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["llm.stream.chunks"] == 3


def test_a_running_usage_count_is_read_from_the_last_chunk() -> None:
    """Some OpenAI-compatible servers send the usage so far in every chunk."""
    chunks = [_chunk([_choice(0, "a")], usage=_usage(9, 1)), _chunk([_choice(0, "b")], usage=_usage(9, 2)),
              _chunk([_choice(0, finish_reason="stop")], usage=_usage(9, 3))]
    attrs, _ = _run(chunks)
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (9, 3)
    assert "llm.usage.estimated" not in attrs


def test_choices_that_finish_at_different_chunks_each_keep_their_reason() -> None:
    chunks = [_chunk([_choice(0, "a"), _choice(1, "b")]), _chunk([_choice(1, finish_reason="length")]),
              _chunk([_choice(0, "c")]), _chunk([_choice(0, finish_reason="stop")]),
              _chunk([], usage=_usage(5, 4))]
    attrs, _ = _run(chunks, n=2, stream_options={"include_usage": True})
    assert attrs["gen_ai.response.finish_reasons"] == ("stop", "length")
    assert attrs["gen_ai.usage.output_tokens"] == 4


def test_the_chunks_are_let_go_when_the_span_ends() -> None:
    chunks = [_chunk([_choice(0, "a")]), _chunk([_choice(0, finish_reason="stop")])]
    with capture() as cap:
        stream = _client(chunks).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        first = next(stream)
        ref = weakref.ref(first)
        del first
        gc.collect()
        assert ref() is not None  # kept while the stream runs: the end reads it
        for _ in stream:
            pass
        gc.collect()
        assert ref() is None  # the span ended and let it go, though the stream object is still alive
    assert len(cap.spans()) == 1


def test_a_long_stream_holds_a_bounded_number_of_chunks_and_reads_them_all() -> None:
    from llm_observatory.instrumentation._core import _stream

    words = [f" w{i}" for i in range(600)]
    chunks = [_chunk([_choice(0, w)]) for w in words]
    chunks += [_chunk([_choice(0, finish_reason="stop")]), _chunk([], usage=_usage(7, 600))]
    alive: list[Any] = []
    most = 0
    with capture(capture_content=True) as cap:
        for chunk in _client(chunks).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                             stream_options={"include_usage": True}):
            alive.append(weakref.ref(chunk))
            del chunk
            if len(alive) % 150 == 0:
                gc.collect()
                most = max(most, sum(r() is not None for r in alive))
    # the older chunks were read and let go on the way: at most one batch is held, not the stream
    assert most <= _stream.SPILL_AT and most < len(words) / 2
    (span,) = cap.spans()
    a = span.attributes
    assert a["llm.stream.chunks"] == len(chunks)
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (7, 600)
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": "".join(words)}]


def test_a_span_ended_mid_stream_leaves_every_chunk_to_the_user() -> None:
    """A helper may end the span while the user reads on (``end_stream``): the user still gets
    every chunk, in order, and the span keeps what had arrived when it ended."""
    from llm_observatory.instrumentation._core._stream import end_stream

    words = [f"w{i} " for i in range(9)]
    chunks = [_chunk([_choice(0, w)]) for w in words] + [_chunk([_choice(0, finish_reason="stop")])]
    _, whole = _run(chunks)  # read without interruption
    with capture() as cap:
        stream = _client(chunks).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        seen = [next(stream) for _ in range(4)]
        end_stream(stream)
        seen += list(stream)
    assert len(seen) == len(chunks)
    assert [c.model_dump() for c in seen] == [c.model_dump() for c in whole]
    (span,) = cap.spans()
    assert span.attributes["llm.stream.chunks"] == 4  # type: ignore[index]
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)  # type: ignore[index]


def _long(words: list[str], usage: bool = True) -> list[dict[str, Any]]:
    chunks = [_chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    chunks += [_chunk([_choice(0, w)]) for w in words]
    chunks.append(_chunk([_choice(0, finish_reason="stop")]))
    return chunks + ([_chunk([], usage=_usage(7, len(words)))] if usage else [])


def _windowed_and_whole(module: Any, read: Any) -> tuple[Any, Any]:
    """The attributes of the span ``read()`` makes with ``module.WINDOW`` as it is (4), and with 0
    (the stream read whole)."""
    results = []
    for window in (4, 0):
        with pytest.MonkeyPatch.context() as patch, capture() as cap:
            patch.setattr(module, "WINDOW", window)
            read()
        (span,) = cap.spans()
        results.append(span.attributes)
    return results[0], results[1]


async def _most_held(stream: Any) -> int:
    """Read a stream; the most of its chunks alive at once, besides the one the loop holds (weak
    references: a chunk is let go by its reference count, no collection needed)."""
    alive: list[Any] = []
    most = 0

    def see(chunk: Any) -> None:
        nonlocal most
        most = max(most, sum(r() is not None for r in alive))
        alive.append(weakref.ref(chunk))

    if hasattr(stream, "__aiter__"):
        async for chunk in stream:
            see(chunk)
    else:
        for chunk in stream:
            see(chunk)
    del chunk
    return max(most, sum(r() is not None for r in alive))


@pytest.mark.parametrize("usage", [True, False], ids=["usage asked", "no usage"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_with_content_off_only_the_first_and_last_chunks_are_held(is_async: bool, usage: bool) -> None:
    """Content off, one choice, and usage asked for or counted from the chunks (OpenAI's own API,
    no tools): the middle chunks are let go as the user gets them, and the span is the one
    reading every chunk gives."""
    from llm_observatory.instrumentation.openai import _chat

    words = [" word"] * 60  # one token each: counting the chunks and tokenising the text agree
    kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    if usage:
        kwargs["stream_options"] = {"include_usage": True}

    async def run(window: int) -> tuple[Any, int]:
        with pytest.MonkeyPatch.context() as patch, capture() as cap:
            patch.setattr(_chat, "WINDOW", window)
            if is_async:
                stream = await _async_client(_long(words, usage)).chat.completions.create(**kwargs)
            else:
                stream = _client(_long(words, usage)).chat.completions.create(**kwargs)
            most = await _most_held(stream)
        (span,) = cap.spans()
        return span, most

    windowed, held = await run(4)
    whole, held_whole = await run(0)
    assert held <= 1 + 4  # the first chunk and the last four
    if held_whole > 2:  # (not when every other chunk was spilled)
        assert held_whole > len(words)
    timing = "gen_ai.response.time_to_first_chunk"
    assert {k: v for k, v in windowed.attributes.items() if k != timing} == \
        {k: v for k, v in whole.attributes.items() if k != timing}
    a = windowed.attributes
    # role, words, finish, and the usage (the app asked: it saw it)
    assert a["llm.stream.chunks"] == len(words) + 2 + usage
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    if usage:
        assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (7, len(words))
    else:
        assert a["gen_ai.usage.output_tokens"] == len(words) and a["llm.usage.estimated"] is True
    assert a["gen_ai.response.id"] == "chatcmpl-1"


def test_a_windowed_stream_cut_before_its_usage_counts_a_token_for_each_unread_chunk() -> None:
    """The unread middle of a cut stream counts one token a chunk (openai sends one a chunk); the
    estimate matches the one made from the text, where each word is one token."""
    from llm_observatory.instrumentation.openai import _chat

    words = [" word"] * 30
    chunks = _long(words)
    def read() -> None:
        stream = _client(chunks).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
        for i, _ in enumerate(stream):
            if i == 20:  # the role chunk and 20 words seen
                break
        stream.close()

    windowed, whole = _windowed_and_whole(_chat, read)
    assert windowed["llm.usage.estimated"] is True
    assert windowed["gen_ai.response.finish_reasons"] == ("error",)
    assert windowed["gen_ai.usage.output_tokens"] == whole["gen_ai.usage.output_tokens"] == 20
    assert windowed["gen_ai.usage.input_tokens"] == whole["gen_ai.usage.input_tokens"]


@pytest.mark.parametrize("case", ["content", "two choices", "no usage, tools", "no usage, audio",
                                  "no usage, another server"])
def test_streams_needing_their_middle_chunks_are_read_whole(case: str) -> None:
    """Content on, several choices, or an output estimate that needs the text: tool-call arguments
    come several tokens a chunk, and OpenAI-compatible servers may batch tokens too."""
    from llm_observatory.instrumentation.openai._chat import ChatStreamAccumulator

    seen: list[int] = []
    original = ChatStreamAccumulator.finish

    def finish(self: Any, chunks: list[Any]) -> None:
        seen.append(self.window)
        original(self, chunks)

    words = [f" w{i}" for i in range(10)]
    kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    no_usage = case.startswith("no usage")
    if not no_usage:
        kwargs["stream_options"] = {"include_usage": True}
    if case == "two choices":
        kwargs["n"] = 2
    if case == "no usage, tools":
        kwargs["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    if case == "no usage, audio":
        kwargs["audio"] = {"voice": "alloy", "format": "pcm16"}
    client = _client(_long(words, usage=not no_usage))
    if case == "no usage, another server":
        client = client.with_options(base_url="http://127.0.0.1:8000/v1")
    ChatStreamAccumulator.finish = finish  # type: ignore[method-assign]
    try:
        with capture(capture_content=case == "content") as cap:
            list(client.chat.completions.create(**kwargs))
    finally:
        ChatStreamAccumulator.finish = original  # type: ignore[method-assign]
    assert seen == [0]
    (span,) = cap.spans()
    if no_usage:  # the estimate read every word's text (" w1" is two tokens)
        assert span.attributes["gen_ai.usage.output_tokens"] > len(words)  # type: ignore[index]


# --- Responses streams --------------------------------------------------------------------------
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_responses_stream_with_content_off_holds_its_first_and_last_events_only(is_async: bool) -> None:
    """The terminal event carries the whole response: the middle events are let go as the user
    gets them, and the span is the one reading every event gives."""
    from llm_observatory.instrumentation.openai import _responses

    from .conftest import make_client
    from .fake_openai import FakeOpenAI

    fake = FakeOpenAI(answer=" ".join(["word"] * 60))

    async def run(window: int) -> tuple[Any, int]:
        with pytest.MonkeyPatch.context() as patch, capture() as cap:
            patch.setattr(_responses, "WINDOW", window)
            stream = make_client(fake, is_async=is_async).responses.create(model="gpt-4o-mini", input="hi", stream=True)
            most = await _most_held(await stream if is_async else stream)
        (span,) = cap.spans()
        return span, most

    windowed, held = await run(4)
    whole, held_whole = await run(0)
    from llm_observatory.instrumentation._core import _stream

    assert held <= 1 + 4
    if _stream.SPILL_AT > 60:  # (not when every other event was spilled)
        assert held_whole > 60
    timing = "gen_ai.response.time_to_first_chunk"
    assert {k: v for k, v in windowed.attributes.items() if k != timing} == \
        {k: v for k, v in whole.attributes.items() if k != timing}
    assert windowed.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert windowed.attributes["llm.stream.chunks"] == 60 + 8  # four events before the text, four after


def test_a_windowed_responses_stream_cut_mid_text_counts_a_token_for_each_unread_event() -> None:
    """Cut mid-text, the unread events count one token each (one a text delta), so the estimate is
    the one made from the text, plus the few structural events it could not tell apart."""
    from llm_observatory.instrumentation.openai import _responses

    from .conftest import make_client
    from .fake_openai import FakeOpenAI

    fake = FakeOpenAI(answer=" ".join(["word"] * 30))
    def read() -> None:
        stream = make_client(fake).responses.create(model="gpt-4o-mini", input="hi", stream=True)
        deltas = 0
        for event in stream:
            deltas += event.type == "response.output_text.delta"
            if deltas == 20:
                break
        stream.close()

    windowed, whole = _windowed_and_whole(_responses, read)
    assert windowed["llm.usage.estimated"] is True and windowed["gen_ai.response.finish_reasons"] == ("error",)
    assert whole["gen_ai.usage.output_tokens"] == 20
    # in_progress, output_item.added and content_part.added were not kept, and count one each
    assert windowed["gen_ai.usage.output_tokens"] == 20 + 3
    assert windowed["gen_ai.usage.input_tokens"] == whole["gen_ai.usage.input_tokens"]
    assert windowed["gen_ai.response.id"] == whole["gen_ai.response.id"] == "resp_0415a3de5d30"


#: Azure's content filter results on every chunk: all safe, or one category filtered
_SAFE = {category: {"filtered": False, "severity": "safe"} for category in ("hate", "self_harm", "sexual", "violence")}
_FILTERED = {"violence": {"filtered": True, "severity": "medium"}}


def _azure_chunks() -> list[dict[str, Any]]:
    """An Azure stream whose answer its content filter stops: the prompt's filter results first
    (no id, no model), chunks with filter results beside their deltas, a chunk of the asynchronous
    filter (a choice with no delta, only results and offsets), the ``content_filter`` finish, and
    the usage asked for."""
    def choice(delta: dict[str, Any] | None, results: dict[str, Any], finish: str | None = None,
               **extra: Any) -> dict[str, Any]:
        return {"index": 0, "finish_reason": finish, "content_filter_results": results,
                **({"delta": delta, "logprobs": None} if delta is not None else {}), **extra}

    def chunk(*choices: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return _chunk(list(choices), chunk_id="chatcmpl-AZ1", model="gpt-4o-2024-08-06", system_fingerprint="fp_az",
                      **extra)

    return [_chunk([], chunk_id="", model="", prompt_filter_results=[{"prompt_index": 0, "content_filter_results": _SAFE}]),
            chunk(choice({"content": "", "role": "assistant"}, {})),
            chunk(choice({"content": "Hello"}, _SAFE)), chunk(choice({"content": " there"}, _SAFE)),
            chunk(choice(None, _SAFE, content_filter_offsets={"check_offset": 0, "start_offset": 0, "end_offset": 11})),
            chunk(choice({}, _FILTERED, "content_filter")),
            chunk(usage=_usage(9, 3))]


def _azure_client(chunks: list[dict[str, Any]]) -> Any:
    sse = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    return openai.AzureOpenAI(api_key="k", api_version="2024-10-21", azure_endpoint="https://acme.openai.azure.com",
                              max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def _azure_raw(client: Any) -> Any:
    return list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                               stream_options={"include_usage": True}))


def _azure_helper(client: Any) -> Any:
    with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES,
                                        stream_options={"include_usage": True}) as stream:
        return [event.type for event in stream], stream.get_final_completion()


@pytest.mark.parametrize("content", [False, True], ids=["content-off", "content-on"])
@pytest.mark.parametrize("name", ["raw", "helper"])
def test_an_azure_stream_stopped_by_its_content_filter(name: str, content: bool, instrumented: Any) -> None:
    """Read whole, as Azure's streams are: the filter's chunks, whatever their shape, leave the
    response id, model, usage and text as OpenAI's would; the finish reason is ``content_filter``.
    The SDK's own helper fails on the asynchronous filter's chunk (it has no delta), with or
    without us: its span then ends as failed, with the chunks that had come."""
    from tests._odd import outcome

    call = _azure_raw if name == "raw" else _azure_helper
    with capture(capture_content=content) as cap:
        traced = outcome(lambda: call(_azure_client(_azure_chunks())))
    instrumented.uninstrument()
    try:
        plain = outcome(lambda: call(_azure_client(_azure_chunks())))
    finally:
        instrumented.instrument()
    assert traced == plain
    (span,) = cap.spans()
    attrs = dict(span.attributes or {})
    assert (attrs["gen_ai.provider.name"], attrs["gen_ai.response.id"], attrs["gen_ai.response.model"],
            attrs["openai.response.system_fingerprint"]) == \
        ("azure.ai.openai", "chatcmpl-AZ1", "gpt-4o-2024-08-06", "fp_az")
    output = json.loads(attrs["gen_ai.output.messages"]) if content else None
    if traced[0] == "raised":
        assert span.status.status_code.name == "ERROR" and attrs["error.type"].endswith(traced[1])
        assert attrs["gen_ai.response.finish_reasons"] == ("error",) and attrs["llm.usage.estimated"] is True
        assert attrs["llm.stream.chunks"] == 5  # (the filter's own chunk among them: the helper failed on it)
    else:
        assert span.status.status_code.name == "UNSET" and "error.type" not in attrs
        assert attrs["gen_ai.response.finish_reasons"] == ("content_filter",)
        assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (9, 3)
        assert "llm.usage.estimated" not in attrs and attrs["llm.stream.chunks"] == len(_azure_chunks())
    if output is not None:
        assert output[0]["parts"] == [{"type": "text", "content": "Hello there"}]
        assert output[0]["finish_reason"] == ("error" if traced[0] == "raised" else "content_filter")
    else:
        assert not any("Hello" in str(v) for v in attrs.values())


def test_a_stream_that_ends_without_a_finish_reason_reports_error() -> None:
    """A server that stops sending before its finish chunk, and closes the stream as it should
    (``[DONE]``): the finish reason expected and not received is ``error``, not an empty string;
    the call did not fail."""
    attrs, seen = _run([_chunk([_choice(0, "Hi")]), _chunk([_choice(0, " there")])])
    assert len(seen) == 2
    assert attrs["gen_ai.response.finish_reasons"] == ("error",)
    assert "error.type" not in attrs
