"""Shared stream helpers for the tests: a response body produced lazily, for the fake provider
APIs (so a transport error can happen mid-stream); both provider SDKs instrumented for a module;
and a framework's stream left early, with the spans that must show it cut short."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any


def lazy_body(httpx: Any, chunks: Any) -> Any:
    """A sync and async byte stream of ``chunks`` for the given httpx module (httpx or httpx2)."""

    class ByteStream(httpx.SyncByteStream, httpx.AsyncByteStream):  # type: ignore[misc,name-defined]
        def __iter__(self) -> Any:
            yield from chunks

        async def __aiter__(self) -> Any:
            for chunk in chunks:
                yield chunk

    return ByteStream()


def providers_instrumented() -> Iterator[None]:
    """For a module fixture: the openai and anthropic SDKs instrumented while it runs."""
    from llm_observatory.instrumentation.anthropic import AnthropicInstrumentor
    from llm_observatory.instrumentation.openai import OpenAIInstrumentor

    instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor()]
    for inst in instrumentors:
        inst.instrument()
    yield
    for inst in instrumentors:
        inst.uninstrument()


def leave_early(stream: Any) -> None:
    """Take one item of a framework's stream, close it, and collect what it dropped (a provider's
    stream that it read without a ``with`` ends its span when collected)."""
    next(stream)
    stream.close()
    gc.collect()


def assert_cut_short_not_failed(spans: Any) -> None:
    """The framework's model span and the provider's beneath it: both ended cut short, neither failed."""
    chats = [s for s in spans if s.name.startswith("chat")]
    assert len(chats) == 2, [s.name for s in spans]
    for span in chats:
        assert span.status.status_code.name == "UNSET" and "error.type" not in span.attributes, span.name
        assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
