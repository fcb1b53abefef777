"""Anthropic messages: attributes, usage, stop reasons, content, count_tokens, errors, transparency."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import llm_observatory as observatory
from llm_observatory.instrumentation.anthropic._handlers import client_info
from llm_observatory.testing import capture
from tests._oracle import oracle_cost
from tests.openai.schema import SYSTEM_INSTRUCTIONS, validate_messages

from .conftest import MESSAGES, make_client
from .fake_anthropic import FakeAnthropic, httpx

MODEL = "claude-sonnet-4-20250514"


def test_create_snapshot_with_cache_usage(fake: FakeAnthropic) -> None:
    fake.cache_read, fake.cache_write = 100, 20
    with capture() as cap:
        msg = make_client(fake).messages.create(model=MODEL, max_tokens=256, messages=MESSAGES,
                                                 stop_sequences=["END"], extra_body={"temperature": 0.5, "top_k": 40})
    assert isinstance(msg, anthropic.types.Message)
    (span,) = cap.snapshot()
    a = span["attributes"]
    cost = (a.pop("llm.cost.usd"), a.pop("llm.cost.input_usd"), a.pop("llm.cost.output_usd"))
    assert span["name"] == f"chat {MODEL}" and span["kind"] == "CLIENT"
    assert a == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": MODEL,
        "server.address": "api.anthropic.com", "gen_ai.request.temperature": 0.5, "gen_ai.request.max_tokens": 256,
        "gen_ai.request.top_k": 40, "gen_ai.request.stop_sequences": ["END"],
        "gen_ai.response.id": "msg_014hJgXY5GTiK7vmiVS5B48p", "gen_ai.response.model": MODEL,
        "gen_ai.response.finish_reasons": ["stop"], "llm.response.raw_finish_reasons": ["end_turn"],
        # Anthropic's input_tokens (13) excludes the cache: the conventions count all input
        "gen_ai.usage.input_tokens": 13 + 100 + 20, "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.usage.cache_write.input_tokens": 20, "gen_ai.usage.output_tokens": 5,
        "llm.cost.priced": True,
    }
    # cache reads and writes have their own prices: read < input < write for Claude
    from llm_observatory.pricing import default_pricer
    plain = default_pricer().cost("anthropic", MODEL, 133, 5)
    assert plain is not None and cost[1] != pytest.approx(plain.input)


@pytest.mark.parametrize(("stop", "normalised"), [("end_turn", "stop"), ("stop_sequence", "stop"),
                                                   ("max_tokens", "length"), ("tool_use", "tool_calls"),
                                                   ("refusal", "refusal")])
def test_stop_reasons(stop: str, normalised: str) -> None:
    from llm_observatory.instrumentation._core._inference import Inference
    from llm_observatory.instrumentation.anthropic._handlers import set_stop_reason

    with capture() as cap:
        inference = Inference(cap.telemetry, "chat", "anthropic", MODEL)
        set_stop_reason(inference, stop)
        inference.end()
    a = cap.spans()[0].attributes
    assert a["gen_ai.response.finish_reasons"] == (normalised,)
    assert a["llm.response.raw_finish_reasons"] == (stop,)


def test_content_capture_with_tools_and_thinking(fake: FakeAnthropic) -> None:
    fake.tool_use = ("toolu_01", "get_weather", {"city": "Paris"})
    fake.thinking = "The user wants weather."
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                                     {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                  "data": "iVBORw0"}}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_00", "name": "get_weather",
                                           "input": {"city": "Rome"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_00", "content": "sunny"}]},
    ]
    tools = [{"name": "get_weather", "description": "Weather by city", "input_schema": {"type": "object"}}]
    with capture(capture_content=True) as cap:
        make_client(fake).messages.create(model=MODEL, max_tokens=100, messages=messages, system="Be brief.",
                                          tools=tools)
    a = cap.spans()[0].attributes
    inputs, outputs = json.loads(a["gen_ai.input.messages"]), json.loads(a["gen_ai.output.messages"])
    validate_messages(inputs, output=False)
    validate_messages(outputs, output=True)
    import jsonschema
    jsonschema.validate(json.loads(a["gen_ai.system_instructions"]), SYSTEM_INSTRUCTIONS)
    assert inputs[0]["parts"][1] == {"type": "blob", "modality": "image", "content": "iVBORw0", "mime_type": "image/png"}
    assert inputs[1]["parts"] == [{"type": "tool_call", "id": "toolu_00", "name": "get_weather", "arguments": {"city": "Rome"}}]
    assert inputs[2]["parts"] == [{"type": "tool_call_response", "id": "toolu_00", "response": "sunny"}]
    assert outputs == [{"role": "assistant", "finish_reason": "tool_call", "parts": [
        {"type": "reasoning", "content": "The user wants weather."},
        {"type": "tool_call", "id": "toolu_01", "name": "get_weather", "arguments": {"city": "Paris"}}]}]
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(a["gen_ai.tool.definitions"]) == [
        {"type": "function", "name": "get_weather", "description": "Weather by city", "parameters": {"type": "object"}}]


def test_content_off_records_no_text(client: Any) -> None:
    with capture() as cap:
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, system="secret system prompt",
                               tools=[{"name": "t", "description": "secret tool text", "input_schema": {}}])
    dumped = json.dumps([dict(s.attributes) for s in cap.spans()])
    assert "secret" not in dumped and "Say hello" not in dumped and "Hello!" not in dumped


needs_count_tokens = pytest.mark.skipif(not hasattr(anthropic.resources.messages.Messages, "count_tokens"),
                                        reason="this anthropic release has count_tokens only in beta")
needs_parse = pytest.mark.skipif(not hasattr(anthropic.resources.messages.Messages, "parse"),
                                 reason="this anthropic release has no messages.parse")


@needs_count_tokens
def test_count_tokens_is_its_own_span_and_not_spend(client: Any) -> None:
    with capture() as cap:
        counted = client.messages.count_tokens(model=MODEL, messages=MESSAGES)
    assert counted.input_tokens == 13
    (span,) = cap.spans()
    assert span.name == f"count_tokens {MODEL}"
    assert span.attributes["llm.count_tokens.input_tokens"] == 13
    assert not any(k.startswith(("gen_ai.usage", "llm.cost")) for k in span.attributes)
    m = cap.metrics()
    assert "gen_ai.client.token.usage" not in m and "llm.client.cost" not in m


@needs_parse
def test_parse(client: Any, fake: FakeAnthropic) -> None:
    import pydantic

    class Reply(pydantic.BaseModel):
        greeting: str

    fake.answer = '{"greeting": "hi"}'
    with capture() as cap:
        parsed = client.messages.parse(model=MODEL, max_tokens=50, messages=MESSAGES, output_format=Reply)
    assert parsed.parsed_output == Reply(greeting="hi")
    assert cap.spans()[0].attributes["gen_ai.output.type"] == "json"


def test_beta_messages_and_raw_response(client: Any) -> None:
    with capture() as cap:
        client.beta.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
        raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    assert raw.headers["request-id"] == "req_011"
    assert isinstance(raw.parse(), anthropic.types.Message)
    assert [s.attributes["gen_ai.usage.output_tokens"] for s in cap.spans()] == [5, 5]


def test_bedrock_and_vertex_providers(fake: FakeAnthropic) -> None:
    bedrock = anthropic.AnthropicBedrock(aws_access_key="AKIAEXAMPLE", aws_secret_key="secret",
                                         aws_region="us-east-1", http_client=httpx.Client(transport=fake.transport()))
    vertex = anthropic.AnthropicVertex(region="us-east5", project_id="proj", access_token="tok",
                                       http_client=httpx.Client(transport=fake.transport()))
    assert client_info(bedrock.messages)[:2] == ("aws.bedrock", "bedrock-runtime.us-east-1.amazonaws.com")
    assert client_info(vertex.messages)[0] == "gcp.vertex_ai"
    with capture() as cap:
        vertex.messages.create(model="claude-sonnet-4@20250514", max_tokens=10, messages=MESSAGES)
    assert cap.spans()[0].attributes["gen_ai.provider.name"] == "gcp.vertex_ai"


@pytest.mark.parametrize(("status", "error"), [
    (400, anthropic.BadRequestError), (401, anthropic.AuthenticationError), (404, anthropic.NotFoundError),
    (429, anthropic.RateLimitError), (500, anthropic.InternalServerError), (529, anthropic.APIStatusError),
])
def test_errors(status: int, error: type[Exception]) -> None:
    with capture() as cap, pytest.raises(error) as info:
        make_client(FakeAnthropic(fail_status=status)).messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    span = cap.spans()[0]
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == f"anthropic.{type(info.value).__name__}"


def _scenarios() -> list[tuple[str, Callable[[Any], Any]]]:
    return [
        ("create", lambda c: c.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)),
        ("stream", lambda c: list(c.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, stream=True))),
        ("helper", lambda c: _helper_final(c)),
        ("count", lambda c: (c.messages if hasattr(c.messages, "count_tokens") else c.beta.messages).count_tokens(
            model=MODEL, messages=MESSAGES)),
    ]


def _helper_final(c: Any) -> Any:
    with c.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as stream:
        return stream.get_final_message()


@pytest.mark.parametrize(("name", "call"), _scenarios(), ids=[n for n, _ in _scenarios()])
def test_same_results_with_and_without_instrumentation(name: str, call: Callable[[Any], Any], instrumented: Any) -> None:
    with capture() as cap:
        traced = call(make_client(FakeAnthropic()))
    assert cap.spans()
    instrumented.uninstrument()
    try:
        plain = call(make_client(FakeAnthropic()))
    finally:
        instrumented.instrument()

    def dump(v: Any) -> Any:
        return [dump(x) for x in v] if isinstance(v, list) else (type(v), v.model_dump())

    assert dump(traced) == dump(plain)


async def test_concurrent_async_calls() -> None:
    aclient = make_client(FakeAnthropic(), is_async=True)

    @observatory.workflow
    async def one(i: int) -> None:
        await asyncio.sleep(0.001 * (i % 3))
        await aclient.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)

    with capture() as cap:
        await asyncio.gather(*(one(i) for i in range(12)))
    spans = {s.context.span_id: s for s in cap.spans()}
    chats = [s for s in cap.spans() if s.name.startswith("chat")]
    assert len(chats) == 12
    assert all(spans[c.parent.span_id].name == "invoke_workflow one" for c in chats)
    assert len({c.parent.span_id for c in chats}) == 12


def test_sampling_off_still_counts(client: Any) -> None:
    with capture(sampler=ALWAYS_OFF) as cap:
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    assert cap.spans() == []
    assert cap.metrics()["llm.client.cost"][0]["value"] > 0


@pytest.mark.parametrize("content", [False, True], ids=["content off", "content on"])
@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream"])
def test_one_shot_iterators_reach_the_sdk_unread(stream: bool, content: bool, instrumented: Any) -> None:
    """Messages, a system prompt or tools given as generators are the SDK's to read: reading them
    first would send empty lists. The request sent is the same with and without instrumentation."""
    def call(fake: FakeAnthropic) -> None:
        result = make_client(fake).messages.create(
            model=MODEL, max_tokens=10, messages=iter(MESSAGES), stream=stream,
            system=(b for b in [{"type": "text", "text": "Be brief."}]),
            tools=iter([{"name": "lookup", "input_schema": {"type": "object"}}]))
        if stream:
            list(result)

    traced_fake, plain_fake = FakeAnthropic(), FakeAnthropic()
    with capture(capture_content=content) as cap:
        call(traced_fake)
    assert len(cap.spans()) == 1
    instrumented.uninstrument()
    try:
        call(plain_fake)
    finally:
        instrumented.instrument()
    assert [r["body"] for r in traced_fake.requests] == [r["body"] for r in plain_fake.requests]
    body = traced_fake.requests[0]["body"]
    assert body["messages"] and body["system"] and body["tools"]


@pytest.mark.parametrize("stream", [False, True], ids=["message", "stream"])
def test_one_hour_cache_writes_web_searches_and_thinking_tokens(fake: FakeAnthropic, stream: bool) -> None:
    fake.cache_read, fake.cache_write, fake.cache_write_1h = 300, 2000, 1500
    fake.web_searches, fake.thinking_tokens = 3, 2
    with capture() as cap:
        result = make_client(fake).messages.create(model=MODEL, max_tokens=256, messages=MESSAGES, stream=stream)
        if stream:
            assert [e.type for e in result][-1] == "message_stop"
    a = dict(cap.spans()[0].attributes or {})
    total_in = fake.input_tokens + 300 + 2000
    assert a["gen_ai.usage.input_tokens"] == total_in and a["gen_ai.usage.cache_write.input_tokens"] == 2000
    assert a["llm.usage.cache_write_1h.input_tokens"] == 1500
    assert a["llm.usage.web_searches"] == 3
    assert a["gen_ai.usage.reasoning.output_tokens"] == 2
    usage = {"input_tokens": total_in, "output_tokens": len(fake.words), "cache_read_tokens": 300,
             "cache_write_tokens": 2000}
    expected = oracle_cost(MODEL, "anthropic", **usage, cache_write_1h_tokens=1500, web_searches=3)
    assert a["llm.cost.usd"] == pytest.approx(expected, abs=1e-12)
    # what the call would have cost priced the old way: every write at the 5-minute rate, searches free
    flat = oracle_cost(MODEL, "anthropic", **usage)
    assert expected > flat + 3 * 0.01 - 1e-9  # $10 per 1,000 searches, and the dearer hour-long writes


@pytest.mark.parametrize("stream", [False, True], ids=["message", "stream"])
@pytest.mark.parametrize("speed", ["fast", "standard"])
def test_a_call_in_fast_mode_is_priced_at_the_fast_rates(fake: FakeAnthropic, stream: bool, speed: str) -> None:
    fake.model, fake.speed, fake.cache_read = "claude-fable-5-2", speed, 200
    with capture() as cap:
        result = make_client(fake).messages.create(model="claude-fable-5-2", max_tokens=256, messages=MESSAGES,
                                                   stream=stream)
        if stream:
            assert [e.type for e in result][-1] == "message_stop"
    a = dict(cap.spans()[0].attributes or {})
    usage = {"input_tokens": fake.input_tokens + 200, "output_tokens": len(fake.words), "cache_read_tokens": 200}
    assert a.get("anthropic.response.speed") == (speed if speed == "fast" else None)
    standard = oracle_cost("claude-fable-5-2", "anthropic", **usage)
    expected = oracle_cost("claude-fable-5-2", "anthropic", {"speed": speed}, **usage)
    assert a["llm.cost.usd"] == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(2 * standard if speed == "fast" else standard)  # ($16/$80 against $8/$40)


def test_a_field_the_sdk_s_model_lacks_is_read_from_its_extras(fake: FakeAnthropic) -> None:
    """``speed`` on a stream's ``message_delta`` usage: the SDK's ``MessageDeltaUsage`` has no such
    field and keeps it as an extra, where it is read as a field is."""
    fake.model, fake.speed, fake.speed_on_delta = "claude-fable-5-2", "fast", True
    with capture() as cap:
        events = list(make_client(fake).messages.create(model="claude-fable-5-2", max_tokens=256,
                                                         messages=MESSAGES, stream=True))
    delta_usage = next(e for e in events if e.type == "message_delta").usage
    assert "speed" not in type(delta_usage).model_fields and delta_usage.speed == "fast"  # (an extra)
    a = dict(cap.spans()[0].attributes or {})
    assert a["anthropic.response.speed"] == "fast"
    usage = {"input_tokens": fake.input_tokens, "output_tokens": len(fake.words)}
    assert a["llm.cost.usd"] == pytest.approx(oracle_cost("claude-fable-5-2", "anthropic", {"speed": "fast"},
                                                          **usage), abs=1e-12)


def test_a_message_without_those_details_reports_none_of_them(fake: FakeAnthropic) -> None:
    fake.cache_write = 20
    with capture() as cap:
        make_client(fake).messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
    a = dict(cap.spans()[0].attributes or {})
    assert {"llm.usage.cache_write_1h.input_tokens", "llm.usage.web_searches",
            "gen_ai.usage.reasoning.output_tokens"}.isdisjoint(a)
    expected = oracle_cost(MODEL, "anthropic", input_tokens=fake.input_tokens + 20, output_tokens=len(fake.words),
                           cache_write_tokens=20)
    assert a["llm.cost.usd"] == pytest.approx(expected, abs=1e-12)
