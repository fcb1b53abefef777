"""``set_attributes`` stores exactly what ``span.set_attributes`` stores, by a faster way on the SDK's span."""

from __future__ import annotations

import random
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanLimits, TracerProvider

from llm_observatory.instrumentation._core import _attributes
from llm_observatory.instrumentation._core._attributes import set_attributes

LIMITS = {
    "default": SpanLimits(),
    "short strings": SpanLimits(max_span_attribute_length=6),
    "few attributes": SpanLimits(max_span_attributes=10),
}


def test_the_fast_way_is_on_for_the_installed_sdk() -> None:
    """If the SDK's span changes shape, the self-check turns the fast way off; this says so here."""
    assert _attributes._SdkSpan is not None
    assert _attributes._self_check()


def _values(rng: random.Random) -> dict[str, Any]:
    pool: list[Any] = ["", "stop", "a longer string value", True, False, 0, 7, -3, 2**40, 0.0, 1.5, float("inf"),
                       ["stop", "length"], ("a",), [1, 2], (0.5,), [], [True], None, b"bytes", {"k": "v"}]
    return {f"key.{rng.randrange(14)}": rng.choice(pool) for _ in range(rng.randrange(1, 12))}


@pytest.mark.parametrize("limits", list(LIMITS), ids=list(LIMITS))
def test_both_ways_store_the_same_attributes(limits: str, caplog: pytest.LogCaptureFixture) -> None:
    tracer = TracerProvider(span_limits=LIMITS[limits]).get_tracer(__name__)
    rng = random.Random(limits)
    for _ in range(300):
        start = _values(rng)
        fast, public = tracer.start_span("a", attributes=start), tracer.start_span("b", attributes=start)
        for _ in range(rng.randrange(1, 4)):
            attributes = _values(rng)
            set_attributes(fast, attributes)
            public.set_attributes(attributes)
        assert dict(fast.attributes) == dict(public.attributes)  # type: ignore[attr-defined]
        assert {k: type(v) for k, v in fast.attributes.items()} == \
            {k: type(v) for k, v in public.attributes.items()}  # type: ignore[attr-defined]
        assert fast.dropped_attributes == public.dropped_attributes  # type: ignore[attr-defined]
        fast.end()
        public.end()


def test_plain_values_skip_the_sdk_cleaning_and_others_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    span = TracerProvider().get_tracer(__name__).start_span("a")
    calls: list[dict[str, Any]] = []
    public = type(span).set_attributes
    monkeypatch.setattr(type(span), "set_attributes", lambda self, a: (calls.append(dict(a)), public(self, a)))
    set_attributes(span, {"s": "x", "i": 1, "f": 1.0, "b": True})
    assert calls == []
    set_attributes(span, {"s": "y", "seq": ["a", "b"], "odd": {"k": 1}})
    assert calls == [{"odd": {"k": 1}}]
    assert span.attributes == {"s": "y", "i": 1, "f": 1.0, "b": True, "seq": ("a", "b"), "odd": {"k": 1}}  # type: ignore[attr-defined]


def test_an_ended_or_non_recording_span_takes_the_public_way(caplog: pytest.LogCaptureFixture) -> None:
    span = TracerProvider().get_tracer(__name__).start_span("a")
    span.end()
    set_attributes(span, {"late": 1})
    assert "late" not in span.attributes  # type: ignore[attr-defined]
    assert "ended span" in caplog.text  # the SDK's own warning
    set_attributes(trace.INVALID_SPAN, {"k": 1})  # a no-op, as the API's span
