"""The stream-exit matrix over every stream helper: OpenAI's ``chat.completions.stream()`` and
``responses.stream()``, Anthropic's ``messages.stream()`` and ``beta.messages.stream()``, sync and async.

Each way out of a helper's ``with`` block ends its one span once, as the same exit of a raw
stream does (``tests/openai/test_streams.py``, ``tests/anthropic/test_streams_and_native.py``):
read to the end, or its final answer awaited, is a finished call; left before the end (a
``break`` then ``close()``, a ``break`` and the helper dropped, the block left after one event,
or before any) is cut short, finish reason ``error``, without failing; an exception from the
loop body, or a transport error mid-stream, fails the span with that exception.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from llm_observatory.testing import capture
from tests._streaming import providers_instrumented
from tests.anthropic.conftest import make_client as anthropic_client
from tests.anthropic.fake_anthropic import FakeAnthropic
from tests.openai.conftest import make_client as openai_client
from tests.openai.fake_openai import FakeOpenAI

MESSAGES = [{"role": "user", "content": "Say this is a test"}]
HELPERS = ["openai-chat", "openai-responses", "anthropic", "anthropic-beta"]
#: exit: (status, finish reason, whether the span has the exception that reached the application)
EXITS = {
    "consumed": ("UNSET", "stop", False),
    "final": ("UNSET", "stop", False),
    "break-close": ("UNSET", "error", False),
    "break-dropped": ("UNSET", "error", False),
    "left-after-one": ("UNSET", "error", False),
    "left-unread": ("UNSET", "error", False),
    "loop-body-raises": ("ERROR", "error", True),
    "transport-error": ("ERROR", "error", True),
}


@pytest.fixture(autouse=True, scope="module")
def instrumented() -> Iterator[None]:
    yield from providers_instrumented()


def _manager(helper: str, is_async: bool, cut: int | None) -> Any:
    """A helper's stream manager (entered by the test), its fake cut by a transport error after ``cut`` events."""
    if helper.startswith("anthropic"):
        client = anthropic_client(FakeAnthropic(cut_after_events=cut), is_async=is_async)
        messages = client.beta.messages if helper == "anthropic-beta" else client.messages
        return messages.stream(model="claude-sonnet-4-20250514", max_tokens=50, messages=MESSAGES)
    fake = FakeOpenAI()
    fake.cut_after_chunks = cut
    client = openai_client(fake, is_async=is_async)
    if helper == "openai-chat":
        return client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES)
    return client.responses.stream(model="gpt-4o-mini", input="Say this is a test")


def _final(stream: Any) -> Any:
    for name in ("get_final_completion", "get_final_response", "get_final_message"):
        if hasattr(stream, name):
            return getattr(stream, name)()
    raise AssertionError(f"{type(stream).__name__} has no final answer")


class LoopBody(Exception):
    pass


def _sync_exit(helper: str, how: str) -> None:
    manager = _manager(helper, False, 3 if how == "transport-error" else None)
    if how == "break-dropped":
        stream = manager.__enter__()
        for _ in stream:
            break
        del stream, manager
        gc.collect()
        return
    with manager as stream:
        if how == "final":
            _final(stream)
        elif how == "left-after-one":
            next(iter(stream))
        elif how != "left-unread":
            for _ in stream:
                if how == "loop-body-raises":
                    raise LoopBody("from the loop")
                if how == "break-close":
                    break
            if how == "break-close":
                stream.close()


async def _async_exit(helper: str, how: str) -> None:
    manager = _manager(helper, True, 3 if how == "transport-error" else None)
    if how == "break-dropped":
        stream = await manager.__aenter__()
        async for _ in stream:
            break
        del stream, manager
        gc.collect()
        return
    async with manager as stream:
        if how == "final":
            await _final(stream)
        elif how == "left-after-one":
            await stream.__aiter__().__anext__()
        elif how != "left-unread":
            async for _ in stream:
                if how == "loop-body-raises":
                    raise LoopBody("from the loop")
                if how == "break-close":
                    break
            if how == "break-close":
                await stream.close()


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("how", list(EXITS))
@pytest.mark.parametrize("helper", HELPERS)
def test_every_way_out_of_a_stream_helper_ends_its_span_once(helper: str, how: str, is_async: bool) -> None:
    if helper == "anthropic-beta" and not hasattr(anthropic.resources.beta.messages.Messages, "stream"):
        pytest.skip("this anthropic release has no beta.messages.stream() helper")
    raised: BaseException | None = None
    with capture() as cap:
        try:
            asyncio.run(_async_exit(helper, how)) if is_async else _sync_exit(helper, how)
        except Exception as exc:
            raised = exc
        spans = cap.spans()
    status, finish, failed = EXITS[how]
    assert (raised is not None) is failed, raised
    assert len(spans) == 1, [s.name for s in spans]
    attrs = spans[0].attributes
    assert spans[0].status.status_code.name == status
    assert attrs["gen_ai.response.finish_reasons"] == (finish,)
    assert not attrs.get("llm.unfinished")
    if raised is not None:
        assert attrs["error.type"].rsplit(".", 1)[-1] == type(raised).__name__
    else:
        assert "error.type" not in attrs
    assert attrs["gen_ai.usage.input_tokens"] > 0  # (known, or estimated, from the start)
    assert (attrs["gen_ai.usage.output_tokens"] > 0) if finish == "stop" else attrs["gen_ai.usage.output_tokens"] >= 0
