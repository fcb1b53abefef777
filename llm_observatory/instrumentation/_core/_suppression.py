"""One inference span and one token/cost count per model call, however the layers nest.

Two rules:

* **Same call, nested wrappers** (``with_raw_response.create`` calling ``create``, a stream helper
  calling ``create``): while an inference span of ours is active for a provider call, a nested
  wrapper of ours passes straight through. OpenTelemetry's ``suppress_instrumentation`` is honoured too.
* **Framework above provider** (a LangChain chat model calling the instrumented openai SDK): the
  framework layer opens an :class:`InferenceSlot`; the provider-level inference beneath it claims
  the slot. The provider span owns tokens and cost (it sees the exact usage); the framework span
  keeps its structure but records no tokens, cost or inference metrics when its slot was claimed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context

ACTIVE_KEY = otel_context.create_key("llm_observatory.inference_active")
SLOT_KEY = otel_context.create_key("llm_observatory.inference_slot")


def _span_key() -> str | None:
    """The key under which the API keeps a context's span (found through the API, not named)."""
    probe = otel_trace.NonRecordingSpan(otel_trace.INVALID_SPAN_CONTEXT)
    keys = list(otel_trace.set_span_in_context(probe, Context()))
    if len(keys) == 1 and otel_trace.get_current_span(Context({keys[0]: probe})) is probe:
        return keys[0]
    return None  # pragma: no cover - an API that keeps the span otherwise: take its way


_SPAN_KEY = _span_key()


def with_span(parent: Context, span: Any, values: Mapping[str, object] | None = None) -> Context:
    """``set_span_in_context(span, parent)``, with ``values`` set too: one new context, where the
    API's ``set_value`` makes two copies of the parent for each value."""
    if _SPAN_KEY is None:  # pragma: no cover
        for key, value in (values or {}).items():
            parent = otel_context.set_value(key, value, parent)
        return otel_trace.set_span_in_context(span, parent)
    if values:
        return Context({**parent, **values, _SPAN_KEY: span})
    return Context({**parent, _SPAN_KEY: span})


class InferenceSlot:
    """Placed in the context by a framework layer; claimed by a provider inference below it."""

    __slots__ = ("claimed", "provider")

    def __init__(self) -> None:
        self.claimed = False
        self.provider: str | None = None


def is_suppressed() -> bool:
    """True inside one of our inference calls, or under ``suppress_instrumentation``."""
    ctx = otel_context.get_current()
    return bool(otel_context.get_value(ACTIVE_KEY, ctx) or otel_context.get_value(_SUPPRESS_INSTRUMENTATION_KEY, ctx))


def claim_slot(ctx: otel_context.Context, provider: str) -> None:
    """Mark the framework slot in ``ctx`` (if any) as owned by a provider inference."""
    slot = otel_context.get_value(SLOT_KEY, ctx)
    if slot is not None and not slot.claimed:  # type: ignore[attr-defined]
        slot.claimed = True  # type: ignore[attr-defined]
        slot.provider = provider  # type: ignore[attr-defined]
