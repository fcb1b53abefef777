"""``with_span``: the context a span of ours runs in, made in one copy, equals the API's."""

from __future__ import annotations

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider

from llm_observatory.instrumentation._core._suppression import ACTIVE_KEY, SLOT_KEY, InferenceSlot, with_span

_tracer = TracerProvider().get_tracer("test")


def _api_way(parent: Context, span: otel_trace.Span, values: dict[str, object]) -> Context:
    for key, value in values.items():
        parent = otel_context.set_value(key, value, parent)
    return otel_trace.set_span_in_context(span, parent)


def test_the_context_equals_the_apis_for_every_parent_and_values() -> None:
    outer = _tracer.start_span("outer")
    parents = [Context(), otel_trace.set_span_in_context(outer), baggage.set_baggage("user", "u-1"),
               otel_context.set_value(ACTIVE_KEY, False, otel_trace.set_span_in_context(outer))]
    valuesets: list[dict[str, object]] = [{}, {ACTIVE_KEY: True}, {SLOT_KEY: InferenceSlot(), ACTIVE_KEY: True}]
    for parent in parents:
        for values in valuesets:
            span = _tracer.start_span("inner", context=parent)
            made = with_span(parent, span, values or None)
            assert made == _api_way(parent, span, values)
            assert type(made) is Context
            assert otel_trace.get_current_span(made) is span
            assert baggage.get_all(made) == baggage.get_all(parent)
            assert parent is not made and otel_trace.get_current_span(parent) is not span  # the parent is untouched
