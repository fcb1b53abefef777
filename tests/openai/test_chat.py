"""chat.completions: attributes, usage, cost, content, tools, parse, raw responses, Azure."""

from __future__ import annotations

import json
from typing import Any

import openai
import pydantic
import pytest

from llm_observatory.testing import capture
from tests._oracle import oracle_cost

from .conftest import MESSAGES, make_client
from .fake_openai import FakeOpenAI, httpx
from .schema import validate_messages


def test_non_streaming_snapshot(client: Any, fake: FakeOpenAI) -> None:
    fake.cached_tokens = 4
    with capture() as cap:
        result = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, top_p=0.9, max_tokens=64, seed=7,
            stop="END", presence_penalty=0.1, frequency_penalty=0.3, service_tier="flex",
        )
    assert isinstance(result, openai.types.chat.ChatCompletion)
    (span,) = cap.snapshot()
    attrs = span["attributes"]
    cost = (attrs.pop("llm.cost.usd"), attrs.pop("llm.cost.input_usd"), attrs.pop("llm.cost.output_usd"))
    assert span["name"] == "chat gpt-4o-mini" and span["kind"] == "CLIENT" and span["status"] == "UNSET"
    assert attrs == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "server.address": "api.openai.com", "openai.api.type": "chat_completions",
        "gen_ai.request.temperature": 0.2, "gen_ai.request.top_p": 0.9, "gen_ai.request.max_tokens": 64,
        "gen_ai.request.seed": 7, "gen_ai.request.stop_sequences": ["END"],
        "gen_ai.request.presence_penalty": 0.1, "gen_ai.request.frequency_penalty": 0.3,
        "openai.request.service_tier": "flex",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.response.id": "chatcmpl-ASYMZ4oSykiIFK4lXLReDiKyAjsQl",
        "gen_ai.response.finish_reasons": ["stop"], "openai.response.service_tier": "flex",
        "openai.response.system_fingerprint": "fp_0ba0d124f1",
        "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 4,
        "gen_ai.usage.cache_read.input_tokens": 4, "gen_ai.usage.reasoning.output_tokens": 0,
        "llm.cost.priced": True,
    }
    assert cost[0] == pytest.approx(cost[1] + cost[2]) and cost[0] > 0
    assert "Say this is a test" not in json.dumps(span)  # content is off by default


def test_metrics(client: Any) -> None:
    with capture() as cap:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    m = cap.metrics()
    (duration,) = m["gen_ai.client.operation.duration"]
    assert duration["attributes"] == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "server.address": "api.openai.com"}
    assert {p["attributes"]["gen_ai.token.type"]: p["sum"] for p in m["gen_ai.client.token.usage"]} == \
        {"input": 12, "output": 4}
    assert m["llm.client.cost"][0]["value"] == pytest.approx(cap.spans()[0].attributes["llm.cost.usd"])


def test_content_capture_is_schema_valid(fake: FakeOpenAI) -> None:
    fake.tool_calls = [("call_1", "get_weather", '{"location": "Paris"}')]
    client = make_client(fake)
    messages = [*MESSAGES,
                {"role": "assistant", "tool_calls": [{"id": "call_0", "type": "function",
                                                      "function": {"name": "get_weather", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_0", "content": "rainy, 57°F"},
                {"role": "user", "content": [{"type": "text", "text": "and this?"},
                                             {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                                             {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}]}]
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
                                               "parameters": {"type": "object", "properties": {}}}}]
    with capture(capture_content=True) as cap:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools)
    attrs = cap.spans()[0].attributes
    inputs = json.loads(attrs["gen_ai.input.messages"])
    outputs = json.loads(attrs["gen_ai.output.messages"])
    validate_messages(inputs, output=False)
    validate_messages(outputs, output=True)
    assert inputs[2]["parts"] == [{"type": "tool_call", "id": "call_0", "name": "get_weather", "arguments": {}}]
    assert inputs[3] == {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_0",
                                                     "response": "rainy, 57°F"}]}
    assert [p["type"] for p in inputs[4]["parts"]] == ["text", "uri", "blob"]
    assert outputs == [{"role": "assistant", "finish_reason": "tool_call", "parts": [
        {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"location": "Paris"}}]}]
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert json.loads(attrs["gen_ai.tool.definitions"]) == [
        {"type": "function", "name": "get_weather", "description": "Weather by city",
         "parameters": {"type": "object", "properties": {}}}]


def test_tool_definitions_without_content_carry_names_only(client: Any) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "description": "secret description",
                                               "parameters": {"type": "object"}}}]
    with capture() as cap:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=tools)
    assert json.loads(cap.spans()[0].attributes["gen_ai.tool.definitions"]) == [{"type": "function", "name": "lookup"}]


def test_multiple_choices(fake: FakeOpenAI) -> None:
    with capture(capture_content=True) as cap:
        make_client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, n=2)
    attrs = cap.spans()[0].attributes
    assert attrs["gen_ai.request.choice.count"] == 2
    assert attrs["gen_ai.response.finish_reasons"] == ("stop", "stop")
    assert len(json.loads(attrs["gen_ai.output.messages"])) == 2


def test_parse_with_a_pydantic_model(client: Any, fake: FakeOpenAI) -> None:
    class Answer(pydantic.BaseModel):
        text: str

    fake.answer = '{"text": "hi"}'
    with capture() as cap:
        parsed = client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Answer)
    assert parsed.choices[0].message.parsed == Answer(text="hi")
    (span,) = cap.spans()
    assert span.attributes["gen_ai.output.type"] == "json"
    assert span.attributes["gen_ai.usage.output_tokens"] == 2


def test_with_raw_response(client: Any) -> None:
    with capture() as cap:
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.headers["x-request-id"] == "req_1"
    completion = raw.parse()
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    (span,) = cap.spans()
    assert span.attributes["gen_ai.usage.input_tokens"] == 12


def test_with_streaming_response_stays_lazy(client: Any) -> None:
    with capture() as cap:
        with client.chat.completions.with_streaming_response.create(model="gpt-4o-mini", messages=MESSAGES) as resp:
            assert cap.spans() == []  # nothing read yet: the span waits for parse()
            completion = resp.parse()
        assert completion.choices[0].message.content == "This is a test."
    (span,) = cap.spans()
    assert span.attributes["gen_ai.usage.output_tokens"] == 4


def test_custom_base_url_and_port(fake: FakeOpenAI) -> None:
    client = make_client(fake, base_url="http://localhost:8123/v1")
    with capture() as cap:
        client.chat.completions.create(model="llama3", messages=MESSAGES)
    attrs = cap.spans()[0].attributes
    assert (attrs["server.address"], attrs["server.port"], attrs["gen_ai.provider.name"]) == ("localhost", 8123, "openai")


def test_azure(fake: FakeOpenAI) -> None:
    client = openai.AzureOpenAI(api_key="k", api_version="2024-10-21", azure_endpoint="https://acme.openai.azure.com",
                                http_client=httpx.Client(transport=fake.transport()), max_retries=0)
    with capture() as cap:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    attrs = cap.spans()[0].attributes
    assert attrs["gen_ai.provider.name"] == "azure.ai.openai"
    assert attrs["server.address"] == "acme.openai.azure.com"
    assert attrs["llm.cost.priced"] is True


async def test_async_client(aclient: Any) -> None:
    with capture() as cap:
        result = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert isinstance(result, openai.types.chat.ChatCompletion)
    assert cap.spans()[0].attributes["gen_ai.usage.input_tokens"] == 12


@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream"])
def test_audio_tokens_are_reported_and_priced_at_their_own_rates(fake: FakeOpenAI, stream: bool) -> None:
    fake.model, fake.prompt_tokens, fake.audio_tokens = "gpt-audio", 900, (800, 3)
    with capture() as cap:
        client = make_client(fake)
        if stream:
            for _ in client.chat.completions.create(model="gpt-audio", messages=MESSAGES, stream=True,
                                                    stream_options={"include_usage": True}):
                pass
        else:
            client.chat.completions.create(model="gpt-audio", messages=MESSAGES)
    a = dict(cap.spans()[0].attributes or {})
    assert (a["gen_ai.usage.audio.input_tokens"], a["gen_ai.usage.audio.output_tokens"]) == (800, 3)
    output = len(fake.words)
    expected = oracle_cost("gpt-audio", "openai", input_tokens=900, output_tokens=output, input_audio_tokens=800,
                            output_audio_tokens=3)
    assert a["llm.cost.usd"] == pytest.approx(expected, abs=1e-12)
    # audio costs more than text: priced as text, the call would have cost less
    assert expected > oracle_cost("gpt-audio", "openai", input_tokens=900, output_tokens=output)


@pytest.mark.parametrize("tier", ["flex", "priority", "fast", "auto"])
@pytest.mark.parametrize("how", ["call", "stream", "stream without usage"])
def test_the_tier_that_served_the_call_prices_it(fake: FakeOpenAI, tier: str, how: str) -> None:
    # the response names the tier used (priority for fast, default for auto); flex costs half
    # the standard price of gpt-5, priority twice
    fake.model = "gpt-5-2025-08-07"
    client = make_client(fake)
    with capture() as cap:
        if how == "call":
            client.chat.completions.create(model="gpt-5", messages=MESSAGES, service_tier=tier)
        else:
            options = {"include_usage": True} if how == "stream" else None
            for _ in client.chat.completions.create(model="gpt-5", messages=MESSAGES, service_tier=tier,
                                                    stream=True, stream_options=options or openai.NOT_GIVEN):
                pass
    a = dict(cap.spans()[0].attributes or {})
    served = {"fast": "priority", "auto": "default"}.get(tier, tier)
    assert a["openai.response.service_tier"] == served
    tokens = {"input_tokens": a["gen_ai.usage.input_tokens"], "output_tokens": a["gen_ai.usage.output_tokens"]}
    standard = oracle_cost("gpt-5", "openai", **tokens)
    assert a["llm.cost.usd"] == pytest.approx(oracle_cost("gpt-5", "openai", {"service_tier": served}, **tokens),
                                              abs=1e-12)
    assert {"flex": 0.5, "priority": 2.0, "default": 1.0}[served] * standard == pytest.approx(a["llm.cost.usd"])
