"""Messages over Bedrock and Vertex AI: their wires, not only their clients.

Bedrock streams come as AWS event stream frames (each Messages API event base64-encoded in a
``chunk`` frame), which the SDK decodes with botocore; its ids name a vendor and a version, and a
cross-region inference profile's a region too. Vertex AI streams server-sent events, the model in
the path. The same answer over each wire gives the application the same result with and without
the instrumentation, and the one span a first-party call gives, but for the provider, the server
and the model asked for; an error mid-stream (the API's ``error`` event, Bedrock's ``exception``
frame) ends it as failed, with what had arrived.

(The fake sends Bedrock no ``ping`` events, as Bedrock does not: anthropic 0.x would hand them
to the application over that wire, where the first-party stream drops them.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from llm_observatory.testing import capture
from tests._odd import odd_body_failures, outcome

from .conftest import CLOUD_MODELS, MESSAGES, cloud_client
from .fake_anthropic import FakeAnthropic
from .test_odd_bodies import SEEDS, OddAnthropic

pytest.importorskip("botocore", reason="the anthropic SDK decodes Bedrock's streams with botocore (boto3)")

CLOUDS = ["bedrock", "vertex"]
PROVIDERS = {None: "anthropic", "bedrock": "aws.bedrock", "vertex": "gcp.vertex_ai"}
SERVERS = {None: "api.anthropic.com", "bedrock": "bedrock-runtime.us-east-1.amazonaws.com",
           "vertex": "us-east5-aiplatform.googleapis.com"}
#: what differs between the same answer's spans over two wires
WIRE_KEYS = {"gen_ai.provider.name", "server.address", "server.port", "gen_ai.request.model",
             "gen_ai.response.time_to_first_chunk"}


def _create(c: Any, model: str) -> Any:
    return c.messages.create(model=model, max_tokens=10, messages=MESSAGES)


def _stream(c: Any, model: str) -> Any:
    return list(c.messages.create(model=model, max_tokens=10, messages=MESSAGES, stream=True))


def _helper(c: Any, model: str) -> Any:
    with c.messages.stream(model=model, max_tokens=10, messages=MESSAGES) as stream:
        return "".join(stream.text_stream), stream.get_final_message()


def _async_stream(c: Any, model: str) -> Any:
    async def read() -> Any:
        return [event async for event in await c.messages.create(model=model, max_tokens=10, messages=MESSAGES,
                                                                 stream=True)]

    return asyncio.run(read())


def _async_helper(c: Any, model: str) -> Any:
    async def read() -> Any:
        async with c.messages.stream(model=model, max_tokens=10, messages=MESSAGES) as stream:
            return "".join([text async for text in stream.text_stream]), await stream.get_final_message()

    return asyncio.run(read())


CALLS: dict[str, tuple[Callable[[Any, str], Any], bool]] = {  # name: (call, on an async client)
    "create": (_create, False), "stream": (_stream, False), "helper": (_helper, False),
    "async-stream": (_async_stream, True), "async-helper": (_async_helper, True)}
STREAMS = [name for name in CALLS if name != "create"]


def _run(name: str, fake: FakeAnthropic) -> tuple[str, ...]:
    call, is_async = CALLS[name]
    client = cloud_client(fake, is_async=is_async)
    return outcome(lambda: call(client, CLOUD_MODELS[fake.cloud]))


def _traced_and_plain(name: str, instrumented: Any, **fake: Any) -> tuple[Any, tuple[str, ...], tuple[str, ...]]:
    with capture() as cap:
        traced = _run(name, FakeAnthropic(**fake))
    instrumented.uninstrument()
    try:
        plain = _run(name, FakeAnthropic(**fake))
    finally:
        instrumented.instrument()
    [span] = cap.spans()
    return span, traced, plain


@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("cloud", CLOUDS)
def test_a_call_over_a_clouds_wire_is_the_same_call(cloud: str, name: str, instrumented: Any) -> None:
    span, traced, plain = _traced_and_plain(name, instrumented, cloud=cloud)
    assert traced == plain and traced[0] == "returned"
    first_party, _, _ = _traced_and_plain(name, instrumented)
    attrs, expected = dict(span.attributes), dict(first_party.attributes)
    assert {k: v for k, v in attrs.items() if k not in WIRE_KEYS} == \
        {k: v for k, v in expected.items() if k not in WIRE_KEYS}
    assert (attrs["gen_ai.provider.name"], attrs["server.address"], attrs["gen_ai.request.model"]) == \
        (PROVIDERS[cloud], SERVERS[cloud], CLOUD_MODELS[cloud])
    assert span.name == f"chat {CLOUD_MODELS[cloud]}"
    assert attrs["llm.cost.priced"] is True and attrs["gen_ai.usage.output_tokens"] == len(FakeAnthropic().words)
    if name != "create":
        assert attrs["gen_ai.response.time_to_first_chunk"] > 0


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("cloud", [None, *CLOUDS], ids=["api", *CLOUDS])
def test_an_error_mid_stream_ends_the_span_as_failed_with_what_arrived(cloud: str | None, name: str,
                                                                        instrumented: Any) -> None:
    """Four events in (the start, a block's start, two deltas), the API's ``overloaded_error``
    event or Bedrock's ``throttlingException`` frame: the SDK raises, the same with us; the span
    has the error, the usage of the start with the output estimated, and no finish reason."""
    span, traced, plain = _traced_and_plain(name, instrumented, cloud=cloud, error_after_events=4)
    assert traced == plain and traced[0] == "raised"
    message = "Too many tokens" if cloud == "bedrock" else "Overloaded"
    assert message in traced[2]
    attrs = span.attributes
    assert span.status.status_code.name == "ERROR" and message in (span.status.description or "")
    # (anthropic 0.x raises a ValueError for Bedrock's frame: a builtin's name is unqualified)
    assert attrs["error.type"] == (traced[1] if traced[1] == "ValueError" else f"anthropic.{traced[1]}")
    assert attrs["gen_ai.response.finish_reasons"] == ("error",)
    assert attrs["gen_ai.usage.input_tokens"] == FakeAnthropic().input_tokens
    assert attrs["llm.usage.estimated"] is True and attrs["gen_ai.usage.output_tokens"] > 0
    assert attrs["gen_ai.provider.name"] == PROVIDERS[cloud]


@pytest.mark.parametrize("name", ["create", "stream", "helper"])
@pytest.mark.parametrize("cloud", CLOUDS)
def test_an_odd_body_over_a_clouds_wire(cloud: str, name: str, instrumented: Any,
                                        caplog: pytest.LogCaptureFixture) -> None:
    call, _ = CALLS[name]
    model = CLOUD_MODELS[cloud]
    failures = odd_body_failures(lambda c: call(c, model), lambda seed: OddAnthropic(seed=seed, cloud=cloud),
                                 cloud_client, instrumented, caplog, SEEDS)
    assert not failures, "\n".join(failures)


@pytest.mark.skipif(not hasattr(anthropic._base_client, "start_api_call_span"),
                    reason="this anthropic release has no native tracing")
@pytest.mark.parametrize("cloud", CLOUDS)
def test_one_span_over_a_clouds_wire_with_the_sdks_own_tracing_on(cloud: str) -> None:
    """The SDK's Bedrock and Vertex clients trace as its first-party one does (their own platform
    name); inside our calls they do not, and the requests still carry our trace context."""
    fake = FakeAnthropic(cloud=cloud)
    model = CLOUD_MODELS[cloud]
    with capture() as cap:
        client = cloud_client(fake, open_telemetry={"tracer_provider": cap.tracer_provider})
        for name in ("create", "stream", "helper"):
            CALLS[name][0](client, model)
    spans = cap.spans()
    assert [(s.instrumentation_scope.name, s.name) for s in spans] == [("llm_observatory", f"chat {model}")] * 3
    assert all(s.attributes["gen_ai.provider.name"] == PROVIDERS[cloud] for s in spans)
    for span, request in zip(spans, fake.requests, strict=True):
        assert request["headers"]["traceparent"].split("-")[1:3] == [f"{span.context.trace_id:032x}",
                                                                     f"{span.context.span_id:016x}"]
