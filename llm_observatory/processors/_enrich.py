"""Stamps session, user, conversation, tags and metadata on every span at start."""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import Span, SpanProcessor

from ..context import attributes_from


class ContextEnrichmentProcessor(SpanProcessor):
    """Adds the values of :mod:`llm_observatory.context` helpers to each span, ours or not."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        attrs = attributes_from(parent_context if parent_context is not None else otel_context.get_current())
        if attrs:
            span.set_attributes(attrs)
