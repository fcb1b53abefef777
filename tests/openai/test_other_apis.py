"""Responses (create, stream, retrieve), embeddings and legacy completions."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from llm_observatory.testing import capture
from tests._oracle import oracle_cost

from .conftest import make_client
from .fake_openai import FakeOpenAI
from .schema import SYSTEM_INSTRUCTIONS, validate_messages


def test_responses_create(client: Any, fake: FakeOpenAI) -> None:
    fake.cached_tokens, fake.reasoning_tokens = 3, 2
    # `conversation` is a later 1.x addition; older SDKs lack the parameter
    has_conversation = "conversation" in inspect.signature(client.responses.create).parameters
    extra: dict[str, Any] = {"conversation": "conv_1"} if has_conversation else {}
    with capture(capture_content=True) as cap:
        result = client.responses.create(model="gpt-4o-mini", input="Say this is a test", instructions="Be brief.",
                                         max_output_tokens=50, previous_response_id="resp_prev",
                                         reasoning={"effort": "low"}, **extra)
    assert result.output_text == "This is a test."
    (span,) = cap.spans()
    a = span.attributes
    assert span.name == "chat gpt-4o-mini"
    assert (a["openai.api.type"], a["gen_ai.request.max_tokens"], a["gen_ai.request.previous_response.id"],
            a["gen_ai.request.reasoning.level"], a.get("gen_ai.conversation.id")) == \
        ("responses", 50, "resp_prev", "low", "conv_1" if has_conversation else None)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"], a["gen_ai.usage.cache_read.input_tokens"],
            a["gen_ai.usage.reasoning.output_tokens"]) == (12, 4, 3, 2)
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    import jsonschema
    jsonschema.validate(json.loads(a["gen_ai.system_instructions"]), SYSTEM_INSTRUCTIONS)
    validate_messages(json.loads(a["gen_ai.input.messages"]), output=False)
    validate_messages(json.loads(a["gen_ai.output.messages"]), output=True)


def test_responses_tool_call_finish_reason(fake: FakeOpenAI) -> None:
    fake.tool_calls = [("call_1", "lookup", '{"q": 1}')]
    with capture() as cap:
        make_client(fake).responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": "hi"}],
                                           tools=[{"type": "function", "name": "lookup", "parameters": {}}])
    a = cap.spans()[0].attributes
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert json.loads(a["gen_ai.tool.definitions"]) == [{"type": "function", "name": "lookup"}]


@pytest.mark.usefixtures("spill_sizes")
def test_responses_stream_and_cut(client: Any, fake: FakeOpenAI) -> None:
    with capture() as cap:
        events = list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
        stream = client.responses.create(model="gpt-4o-mini", input="hi", stream=True)
        next(stream), next(stream)
        stream.close()
    assert events[-1].type == "response.completed"
    full, cut = cap.spans()
    assert (full.attributes["gen_ai.usage.output_tokens"], full.attributes["gen_ai.response.finish_reasons"]) == \
        (4, ("stop",))
    assert "llm.usage.estimated" not in full.attributes
    assert cut.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert cut.attributes["llm.usage.estimated"] is True


@pytest.mark.usefixtures("spill_sizes")
def test_responses_stream_cut_mid_text_keeps_what_arrived(client: Any) -> None:
    with capture(capture_content=True) as cap:
        stream = client.responses.create(model="gpt-4o-mini", input="hi", stream=True)
        seen = []
        for event in stream:
            if event.type == "response.output_text.delta":
                seen.append(event.delta)
                if len(seen) == 3:
                    break
        stream.close()
    (span,) = cap.spans()
    a = span.attributes
    assert a["gen_ai.response.finish_reasons"] == ("error",)
    assert a["gen_ai.response.id"] == "resp_0415a3de5d30"  # from response.created, the first event
    output = json.loads(a["gen_ai.output.messages"])
    assert output[0]["parts"] == [{"type": "text", "content": "".join(seen)}]
    from llm_observatory.pricing import tokens
    assert a["gen_ai.usage.output_tokens"] == tokens.count_text("".join(seen), "openai", "gpt-4o-mini")
    assert a["llm.usage.estimated"] is True


@pytest.mark.usefixtures("spill_sizes")
def test_responses_stream_helper(client: Any) -> None:
    with capture() as cap:
        with client.responses.stream(model="gpt-4o-mini", input="hi") as stream:
            for event in stream:
                if event.type == "response.output_text.delta":
                    break
        assert cap.spans()[0].attributes["gen_ai.response.finish_reasons"] == ("error",)
        with client.responses.stream(model="gpt-4o-mini", input="hi") as stream:
            final = stream.get_final_response()
    assert final.output_text == "This is a test."
    assert cap.spans()[1].attributes["gen_ai.response.finish_reasons"] == ("stop",)


@pytest.mark.usefixtures("spill_sizes")
def test_retrieve_streamed_reports_the_latest_status(client: Any) -> None:
    with capture() as cap:
        events = list(client.responses.retrieve("resp_0415a3de5d30", stream=True))
        stream = client.responses.retrieve("resp_0415a3de5d30", stream=True)
        for _ in range(5):  # created, in_progress, the item, the part, one text delta
            next(stream)
        stream.close()
    assert events[-1].type == "response.completed"
    full, cut = cap.spans()
    assert full.name == cut.name == "fetch_response"
    assert full.attributes["gen_ai.response.status"] == "completed"
    assert cut.attributes["gen_ai.response.status"] == "in_progress"  # what arrived before the cut
    assert full.attributes["llm.stream.chunks"] == len(events)
    for span in (full, cut):
        assert "gen_ai.usage.input_tokens" not in span.attributes
        assert "gen_ai.response.finish_reasons" not in span.attributes


def test_retrieve_is_a_fetch_without_usage(client: Any) -> None:
    with capture() as cap:
        fetched = client.responses.retrieve("resp_abc")
    assert fetched.id == "resp_abc"
    (span,) = cap.spans()
    assert span.name == "fetch_response"
    a = span.attributes
    assert (a["gen_ai.operation.name"], a["gen_ai.response.id"], a["gen_ai.response.status"]) == \
        ("fetch_response", "resp_abc", "completed")
    assert not any(k.startswith(("gen_ai.usage", "llm.cost")) for k in a)
    assert "gen_ai.client.token.usage" not in cap.metrics()


@pytest.mark.parametrize("encoding_format", [None, "float", "base64"])
def test_embeddings(client: Any, encoding_format: str | None) -> None:
    kwargs: dict[str, Any] = {"encoding_format": encoding_format} if encoding_format else {}
    with capture() as cap:
        result = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=8, **kwargs)
    assert len(result.data) == 2
    (span,) = cap.spans()
    a = span.attributes
    assert span.name == "embeddings text-embedding-3-small"
    assert (a["gen_ai.operation.name"], a["gen_ai.usage.input_tokens"], a["gen_ai.embeddings.dimension.count"]) == \
        ("embeddings", 8, 8)
    assert a["llm.cost.priced"] is True and "gen_ai.usage.output_tokens" not in a


@pytest.mark.usefixtures("spill_sizes")
def test_legacy_completions(client: Any) -> None:
    with capture(capture_content=True) as cap:
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=5)
        list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", stream=True))
    plain, streamed = cap.spans()
    assert plain.name == "text_completion gpt-3.5-turbo-instruct"
    assert (plain.attributes["gen_ai.usage.input_tokens"], plain.attributes["gen_ai.request.max_tokens"]) == (5, 5)
    assert streamed.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert streamed.attributes["llm.usage.estimated"] is True


@pytest.mark.usefixtures("spill_sizes")
async def test_async_responses_and_embeddings(aclient: Any) -> None:
    with capture() as cap:
        await aclient.responses.create(model="gpt-4o-mini", input="hi")
        stream = await aclient.responses.create(model="gpt-4o-mini", input="hi", stream=True)
        async for _ in stream:
            pass
        await aclient.embeddings.create(model="text-embedding-3-small", input="a")
    assert [s.name for s in cap.spans()] == ["chat gpt-4o-mini", "chat gpt-4o-mini", "embeddings text-embedding-3-small"]


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize(("web", "files"), [(2, 0), (0, 3), (1, 2)], ids=["web", "file", "both"])
def test_responses_web_and_file_searches_are_counted_and_priced(fake: FakeOpenAI, stream: bool, web: int,
                                                                files: int) -> None:
    fake.model, fake.web_searches, fake.file_searches = "gpt-4.1", web, files
    tools = [{"type": "web_search"}, {"type": "file_search", "vector_store_ids": ["vs_1"]}]
    with capture(capture_content=True) as cap:
        client = make_client(fake)
        if stream:
            for _ in client.responses.create(model="gpt-4.1", input="Weather in Paris?", stream=True, tools=tools):
                pass
        else:
            result = client.responses.create(model="gpt-4.1", input="Weather in Paris?", tools=tools)
            assert result.output_text == fake.answer
    a = dict(cap.spans()[0].attributes or {})
    assert (a.get("llm.usage.web_searches"), a.get("llm.usage.file_searches")) == (web or None, files or None)
    expected = oracle_cost("gpt-4.1", "openai", input_tokens=fake.prompt_tokens, output_tokens=len(fake.words),
                           web_searches=web, storage_searches=files)
    plain = oracle_cost("gpt-4.1", "openai", input_tokens=fake.prompt_tokens, output_tokens=len(fake.words))
    assert a["llm.cost.usd"] == pytest.approx(expected, abs=1e-12) and expected > plain  # each search billed
    validate_messages(json.loads(a["gen_ai.output.messages"]), output=True)


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_responses_are_priced_at_the_tier_that_served_them(fake: FakeOpenAI, stream: bool) -> None:
    fake.model = "gpt-5-2025-08-07"
    with capture() as cap:
        client = make_client(fake)
        if stream:
            for _ in client.responses.create(model="gpt-5", input="Hi", service_tier="flex", stream=True):
                pass
        else:
            client.responses.create(model="gpt-5", input="Hi", service_tier="flex")
    a = dict(cap.spans()[0].attributes or {})
    assert a["openai.response.service_tier"] == "flex"
    usage = {"input_tokens": fake.prompt_tokens, "output_tokens": len(fake.words)}
    assert a["llm.cost.usd"] == pytest.approx(oracle_cost("gpt-5", "openai", {"service_tier": "flex"}, **usage),
                                              abs=1e-12)
    assert a["llm.cost.usd"] == pytest.approx(oracle_cost("gpt-5", "openai", **usage) / 2)


def test_responses_without_searches_report_none(client: Any) -> None:
    with capture() as cap:
        client.responses.create(model="gpt-4o-mini", input="Say this is a test")
    assert "llm.usage.web_searches" not in (cap.spans()[0].attributes or {})


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_a_failed_response_fails_its_span_with_the_apis_code(stream: bool) -> None:
    """A response whose status is ``failed`` is the API's error, returned rather than raised: the
    span and the duration metric get the API's code as ``error.type``, as a raised error's type."""
    def call(fake: FakeOpenAI) -> Any:
        result = make_client(fake).responses.create(model="gpt-4o-mini", input="hi", stream=stream)
        return [event.type for event in result] if stream else (result.status, result.error.code)

    failure = ("server_error", "The model failed to generate a response.")
    with capture() as cap:
        traced = call(FakeOpenAI(response_failure=failure))
    plain = call(FakeOpenAI(response_failure=failure))  # (instrumented too: the outcome is the SDK's)
    assert traced == plain and (traced[-1] == "response.failed" if stream else traced == ("failed", "server_error"))
    (span,) = cap.spans()
    assert span.status.status_code.name == "ERROR"
    assert span.status.description == "server_error: The model failed to generate a response."
    assert span.attributes["error.type"] == "server_error"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    [duration] = cap.metrics()["gen_ai.client.operation.duration"]
    assert duration["attributes"]["error.type"] == "server_error"


@pytest.mark.usefixtures("spill_sizes")
def test_a_responses_stream_ended_by_an_error_event_fails_its_span() -> None:
    """The API's ``error`` event mid-stream (which the SDK hands over as an event, not raised),
    then the end: failed with its code, finish reason ``error``, the usage estimated."""
    fake = FakeOpenAI(error_event_after=6)
    with capture() as cap:
        events = [event.type for event in make_client(fake).responses.create(model="gpt-4o-mini", input="hi",
                                                                               stream=True)]
    assert len(events) == 7 and events[-1] in ("error", None)  # (openai 1.x gives the event no type)
    (span,) = cap.spans()
    a = span.attributes
    assert span.status.status_code.name == "ERROR" and a["error.type"] == "server_error"
    assert a["gen_ai.response.finish_reasons"] == ("error",)
    assert a["llm.usage.estimated"] is True and a["gen_ai.usage.output_tokens"] >= 2
    assert a["gen_ai.response.id"] == "resp_0415a3de5d30"


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize(("reason", "finish"), [("max_output_tokens", "length"), ("content_filter", "content_filter")])
def test_an_incomplete_response_is_an_answer_not_a_failure(stream: bool, reason: str, finish: str) -> None:
    """``incomplete`` (the output cut at its token limit, or by the content filter) is an answer:
    its finish reason says why, and the span has no error."""
    with capture() as cap:
        result = make_client(FakeOpenAI(incomplete_reason=reason)).responses.create(model="gpt-4o-mini", input="hi",
                                                                                    stream=stream)
        status = [event.type for event in result][-1] if stream else result.status
    assert status == ("response.incomplete" if stream else "incomplete")
    (span,) = cap.spans()
    assert span.status.status_code.name == "UNSET" and "error.type" not in span.attributes
    assert span.attributes["gen_ai.response.finish_reasons"] == (finish,)
    assert span.attributes["gen_ai.usage.output_tokens"] == len(FakeOpenAI().words)
