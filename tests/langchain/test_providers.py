"""One model call, one count: LangChain chat models over the instrumented openai and anthropic SDKs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llm_observatory.testing import Capture, capture

from .conftest import chat_anthropic, chat_openai

pytest.importorskip("langchain_openai")
pytest.importorskip("langchain_anthropic")

from llm_observatory.instrumentation.anthropic import AnthropicInstrumentor
from llm_observatory.instrumentation.openai import OpenAIInstrumentor
from tests._streaming import assert_cut_short_not_failed, leave_early, providers_instrumented
from tests.anthropic.fake_anthropic import FakeAnthropic
from tests.openai.fake_openai import FakeOpenAI


@pytest.fixture(autouse=True, scope="module")
def providers() -> Iterator[None]:
    yield from providers_instrumented()


async def _astream(model: Any) -> list[Any]:
    return [chunk async for chunk in model.astream("Say this is a test")]


CALLS: dict[str, Callable[[Any], Any]] = {
    "invoke": lambda m: m.invoke("Say this is a test"),
    "stream": lambda m: list(m.stream("Say this is a test")),
    "ainvoke": lambda m: asyncio.run(m.ainvoke("Say this is a test")),
    "astream": lambda m: asyncio.run(_astream(m)),
    "batch": lambda m: m.batch(["Say this is a test", "Say this is a test"]),
}
MODELS = {
    "openai": lambda: chat_openai(FakeOpenAI(), stream_usage=True),
    "anthropic": lambda: chat_anthropic(FakeAnthropic()),
}


def _calls_and_tokens(cap: Capture) -> tuple[list[Any], dict[str, tuple[int, int]]]:
    counted = [s for s in cap.spans() if "gen_ai.usage.input_tokens" in s.attributes]
    points = cap.metrics()["gen_ai.client.token.usage"]
    tokens = {p["attributes"]["gen_ai.token.type"]: (p["count"], p["sum"]) for p in points}
    return counted, tokens


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("provider", list(MODELS))
def test_each_model_call_is_counted_once(provider: str, call: str) -> None:
    model = MODELS[provider]()
    with capture() as cap:
        CALLS[call](model)
    calls = 2 if call == "batch" else 1
    counted, tokens = _calls_and_tokens(cap)
    assert len(counted) == calls
    for span in counted:  # the provider span counts, beneath the LangChain model span
        assert span.attributes["gen_ai.provider.name"] == provider
        assert "llm.langchain.run_type" not in span.attributes
        parent = next(s for s in cap.spans() if s.context.span_id == span.parent.span_id)
        assert parent.attributes["llm.langchain.run_type"] == "chat_model"
        assert parent.attributes["llm.inference.delegated_to"] == provider
        assert "llm.cost.usd" not in parent.attributes
    assert tokens["input"] == (calls, sum(s.attributes["gen_ai.usage.input_tokens"] for s in counted))
    assert tokens["output"] == (calls, sum(s.attributes["gen_ai.usage.output_tokens"] for s in counted))
    costs = cap.metrics()["llm.client.cost"]
    assert sum(p["value"] for p in costs) == pytest.approx(sum(s.attributes["llm.cost.usd"] for s in counted))
    durations = cap.metrics()["gen_ai.client.operation.duration"]
    assert sum(p["count"] for p in durations) == calls


@pytest.mark.parametrize("provider", list(MODELS))
def test_streaming_ttft_on_both_spans(provider: str) -> None:
    with capture() as cap:
        list(MODELS[provider]().stream("Say this is a test"))
    for span in cap.spans():
        assert span.attributes["gen_ai.response.time_to_first_chunk"] >= 0


@pytest.mark.parametrize("provider", list(MODELS))
def test_without_provider_instrumentation_langchain_counts_exact_usage(provider: str) -> None:
    inst = OpenAIInstrumentor() if provider == "openai" else AnthropicInstrumentor()
    inst.uninstrument()
    try:
        with capture() as cap:
            MODELS[provider]().invoke("Say this is a test")
    finally:
        inst.instrument()
    (span,) = cap.spans()
    attrs = span.attributes
    assert attrs["llm.langchain.run_type"] == "chat_model" and "llm.usage.estimated" not in attrs
    expected = (12, 4) if provider == "openai" else (13, 5)  # what each fake API reports
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == expected
    assert attrs["llm.cost.usd"] > 0 and attrs["gen_ai.response.model"]
    _, tokens = _calls_and_tokens(cap)
    assert tokens == {"input": (1, expected[0]), "output": (1, expected[1])}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("provider", list(MODELS))
def test_differential_transparency(provider: str, call: str) -> None:
    from llm_observatory.instrumentation.langchain import LangChainInstrumentor

    def contents(result: Any) -> Any:
        items = result if isinstance(result, list) else [result]
        return [(type(r), r.content, getattr(r, "tool_calls", None), getattr(r, "usage_metadata", None))
                for r in items]
    with capture():
        traced = contents(CALLS[call](MODELS[provider]()))
    instrumentors = [LangChainInstrumentor(), OpenAIInstrumentor(), AnthropicInstrumentor()]
    for inst in instrumentors:
        inst.uninstrument()
    try:
        plain = contents(CALLS[call](MODELS[provider]()))
    finally:
        for inst in instrumentors:
            inst.instrument()
    assert traced == plain


def test_provider_error_is_recorded_once_and_raised_unchanged() -> None:
    import openai
    fake = FakeOpenAI(fail_status=429)
    with capture() as cap, pytest.raises(openai.RateLimitError) as raised:
        chat_openai(fake).invoke("Say this is a test")
    provider_span, langchain_span = cap.spans()
    assert provider_span.attributes["error.type"] == "openai.RateLimitError"
    # langchain-openai re-raises its own subclass; the LangChain span names what LangChain raised.
    assert langchain_span.attributes["error.type"] == f"{type(raised.value).__module__}.{type(raised.value).__name__}"
    assert all(s.status.status_code.name == "ERROR" for s in cap.spans())
    (point,) = cap.metrics()["gen_ai.client.operation.duration"]
    assert point["attributes"]["error.type"] == "openai.RateLimitError"


@pytest.mark.filterwarnings("ignore:Unexpected type for token usage")  # langchain-openai's own, traced or not
def test_multi_prompt_generate_counts_each_call_once() -> None:
    from langchain_core.messages import HumanMessage
    model = chat_openai(FakeOpenAI())
    with capture() as cap:
        model.generate([[HumanMessage("one")], [HumanMessage("two")], [HumanMessage("three")]])
    counted, tokens = _calls_and_tokens(cap)
    assert len(counted) == 3 and tokens["input"][0] == 3
    parents = {s.parent.span_id for s in counted}
    assert len(parents) == 3  # each provider call under its own LangChain model span
    from opentelemetry import trace
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_cache_writes_by_lifetime_are_priced_as_the_anthropic_instrumentation_prices_them() -> None:
    """langchain-anthropic reports cache writes by lifetime (and zeroes ``cache_creation``): the
    LangChain span, alone, counts and prices them as the Anthropic span does for the same response."""
    fake = FakeAnthropic(cache_read=300, cache_write=2000, cache_write_1h=1500)
    with capture() as cap:
        message = chat_anthropic(fake).invoke("Say this is a test")
    if "ephemeral_1h_input_tokens" not in (message.usage_metadata or {}).get("input_token_details", {}):
        pytest.skip("this langchain-anthropic does not report cache writes by lifetime")
    provider_span = next(s for s in cap.spans() if "llm.langchain.run_type" not in s.attributes)
    inst = AnthropicInstrumentor()
    inst.uninstrument()
    try:
        with capture() as cap:
            chat_anthropic(fake).invoke("Say this is a test")
    finally:
        inst.instrument()
    (chain_span,) = cap.spans()
    keys = ("gen_ai.usage.input_tokens", "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_write.input_tokens", "llm.usage.cache_write_1h.input_tokens", "llm.cost.usd")
    ours = [chain_span.attributes.get(k) for k in keys]
    assert ours == [provider_span.attributes.get(k) for k in keys]
    assert ours[:4] == [13 + 300 + 2000, 300, 2000, 1500]


@pytest.mark.parametrize("provider", list(MODELS))
def test_a_stream_left_early_is_cut_short_not_failed(provider: str) -> None:
    """``model.stream()`` left after its first chunk: LangChain closes its generator and reports
    the ``GeneratorExit`` as the run's error; the generator reads the provider's stream in a
    ``with`` (or, in older integrations, drops it: that span ends when it is collected). Both
    spans end cut short (finish reason ``error``), neither failed."""
    with capture() as cap:
        stream = MODELS[provider]().stream("Say this is a test")
        leave_early(stream)
    assert_cut_short_not_failed(cap.spans())
