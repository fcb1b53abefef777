"""The opt-in gen_ai.client.inference.operation.details event: structured, in the span's context, redacted."""

from __future__ import annotations

import pytest

from llm_observatory._config import Options
from llm_observatory.testing import capture

from . import toy

pytestmark = pytest.mark.usefixtures("toy_instrumented")


def test_event_carries_structured_content_in_the_span_context() -> None:
    with capture(capture_content=True, content_events=True) as cap:
        toy.Client().create(model="toy-1", prompt="hello, write to jane@example.com")
    (record,) = cap.logs()
    log = record.log_record
    span = cap.span("chat toy-1")
    assert log.event_name == "gen_ai.client.inference.operation.details"
    assert (log.trace_id, log.span_id) == (span.context.trace_id, span.context.span_id)
    attrs = dict(log.attributes)
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.usage.input_tokens"] == 7
    messages = attrs["gen_ai.input.messages"]
    assert messages[0]["parts"][0] == {"type": "text", "content": "hello, write to [REDACTED:EMAIL]"}
    assert "gen_ai.input.messages" in span.attributes  # SPAN_AND_EVENT


def test_event_only_keeps_content_off_spans() -> None:
    with capture(capture_content=True, content_events=True, content_on_spans=False) as cap:
        toy.Client().create(model="toy-1", prompt="hi")
    assert "gen_ai.input.messages" not in cap.span("chat toy-1").attributes
    assert cap.logs()[0].log_record.attributes["gen_ai.output.messages"][0]["parts"][0]["content"] == "echo hi"


def test_no_event_unless_asked_or_without_content() -> None:
    with capture(capture_content=True) as cap:
        toy.Client().create(model="toy-1", prompt="hi")
    with capture(content_events=True) as cap2:
        toy.Client().create(model="toy-1", prompt="hi")
    assert cap.logs() == [] and cap2.logs() == []


@pytest.mark.parametrize(("value", "events", "on_spans"), [
    ("true", False, True), ("SPAN_ONLY", False, True), ("SPAN_AND_EVENT", True, True),
    ("EVENT_ONLY", True, False), ("NO_CONTENT", False, True),
])
def test_the_otel_variable(value: str, events: bool, on_spans: bool) -> None:
    options = Options.resolve({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value})
    assert (options.content_events, options.content_on_spans) == (events, on_spans)
    assert options.capture_content is (value != "NO_CONTENT")
