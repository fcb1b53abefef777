"""``set_attributes`` and ``start_span`` store exactly what the SDK's own calls store, by a faster way on its span."""

from __future__ import annotations

import random
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import SpanKind

from llm_observatory.instrumentation._core import _attributes
from llm_observatory.instrumentation._core._attributes import set_attributes, start_span
from llm_observatory.processors import _enrich
from llm_observatory.processors._enrich import ContextEnrichmentProcessor
from llm_observatory.processors._sampling import Rule, RuleSampler

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
            # sometimes with string arrays set after them (as finish reasons are)
            tuples = {f"key.{rng.randrange(14)}": tuple(rng.choice(["stop", "", "a longer reason"])
                                                       for _ in range(rng.randrange(1, 3)))
                      for _ in range(rng.randrange(0, 3))} if rng.random() < 0.5 else None
            set_attributes(fast, attributes, tuples)
            public.set_attributes(attributes)
            if tuples:
                public.set_attributes(tuples)
        assert list(fast.attributes.items()) == list(public.attributes.items())  # type: ignore[attr-defined]
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
    public_span: Any = TracerProvider().get_tracer(__name__).start_span("b")
    public_span.set_attributes({"s": "x", "i": 1, "f": 1.0, "b": True})
    public_span.set_attributes({"s": "y", "seq": ["a", "b"], "odd": {"k": 1}})  # a map: kept by newer SDKs only
    assert dict(span.attributes) == dict(public_span.attributes)  # type: ignore[attr-defined]
    assert span.attributes["seq"] == ("a", "b")  # type: ignore[attr-defined]


def test_an_ended_or_non_recording_span_takes_the_public_way(caplog: pytest.LogCaptureFixture) -> None:
    span = TracerProvider().get_tracer(__name__).start_span("a")
    span.end()
    set_attributes(span, {"late": 1})
    assert "late" not in span.attributes  # type: ignore[attr-defined]
    assert "ended span" in caplog.text  # the SDK's own warning
    set_attributes(trace.INVALID_SPAN, {"k": 1})  # a no-op, as the API's span


# --- start attributes ------------------------------------------------------------------------------

class _Seen(SpanProcessor):
    """A processor of the app's own: its ``on_start`` reads the span's attributes."""

    def __init__(self) -> None:
        self.at_start: list[dict[str, Any]] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.at_start.append(dict(span.attributes))


class _Recording(Sampler):
    """A sampler of the app's own: it reads the attributes it is given."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                      attributes: Any = None, links: Any = None, trace_state: Any = None) -> SamplingResult:
        self.seen.append(dict(attributes or {}))
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "recording"


def _provider(limits: SpanLimits, sampler: Any = None) -> TracerProvider:
    provider = TracerProvider(span_limits=limits, sampler=sampler)
    provider.add_span_processor(ContextEnrichmentProcessor())
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    return provider


def _plain(rng: random.Random) -> dict[str, Any]:
    pool: list[Any] = ["", "chat", "a longer string value", True, False, 0, 443, 2**40, 0.2, float("inf")]
    return {f"key.{rng.randrange(14)}": rng.choice(pool) for _ in range(rng.randrange(0, 12))}


@pytest.mark.parametrize("limits", list(LIMITS), ids=list(LIMITS))
def test_a_span_starts_with_the_same_attributes_both_ways(limits: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the same order (which decides eviction), after what an on_start adds, with the same drops."""
    tracer = _provider(LIMITS[limits]).get_tracer(__name__)
    rng = random.Random(limits)
    added: dict[str, Any] = {}
    monkeypatch.setattr(_enrich, "attributes_from", lambda ctx: dict(added))
    for _ in range(300):
        start = _plain(rng)
        added = _plain(rng) if rng.random() < 0.5 else {}  # what the enrichment processor's on_start sets
        fast: Any = start_span(tracer, "a", None, SpanKind.CLIENT, start)
        public: Any = tracer.start_span("b", None, SpanKind.CLIENT, start)
        assert list(fast.attributes.items()) == list(public.attributes.items())
        assert {k: type(v) for k, v in fast.attributes.items()} == {k: type(v) for k, v in public.attributes.items()}
        assert fast.dropped_attributes == public.dropped_attributes
        fast.end()
        public.end()


def _cleaned(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The span start attributes handed to the SDK's attribute store, which checks them (it is, when
    the fast way is not taken)."""
    calls: list[Any] = []
    original = BoundedAttributes.__init__

    def __init__(self: BoundedAttributes, *args: Any, **kwargs: Any) -> None:
        attributes = kwargs.get("attributes", args[1] if len(args) > 1 else None)
        if attributes and any(key.startswith("gen_ai.") for key in attributes):  # not a resource's
            calls.append(dict(attributes))
        original(self, *args, **kwargs)

    monkeypatch.setattr(BoundedAttributes, "__init__", __init__)
    return calls


def test_the_sdk_is_skipped_only_where_nobody_reads_the_start_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    start = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "server.port": 8443}
    cleaned = _cleaned(monkeypatch)
    # the default sampler, a ratio, rules-free RuleSampler; our processors and the SDK's
    for sampler in (None, ParentBased(TraceIdRatioBased(1.0)), RuleSampler()):
        span: Any = start_span(_provider(SpanLimits(), sampler).get_tracer(__name__), "s", None, SpanKind.CLIENT, start)
        assert dict(span.attributes) == start
    assert cleaned == []

    # a sampler that reads attributes sees them
    rules = RuleSampler([Rule({"gen_ai.request.model": "m"}, 0.0)])
    dropped = start_span(_provider(SpanLimits(), rules).get_tracer(__name__), "s", None, SpanKind.CLIENT, start)
    assert not dropped.is_recording()  # the rule on the request model decided
    recording = _Recording()
    start_span(_provider(SpanLimits(), ParentBased(recording)).get_tracer(__name__), "s", None, SpanKind.CLIENT, start)
    assert recording.seen == [start]

    # a processor of the app's, added after the first span: its on_start sees them
    provider = _provider(SpanLimits())
    tracer = provider.get_tracer(__name__)
    start_span(tracer, "s", None, SpanKind.CLIENT, start)
    seen = _Seen()
    provider.add_span_processor(seen)
    cleaned.clear()
    start_span(tracer, "s", None, SpanKind.CLIENT, start)
    assert seen.at_start == [start]
    assert cleaned == [start]


def test_values_that_the_sdk_would_change_take_its_way(monkeypatch: pytest.MonkeyPatch) -> None:
    cleaned = _cleaned(monkeypatch)
    tracer = _provider(SpanLimits()).get_tracer(__name__)
    span: Any = start_span(tracer, "s", None, SpanKind.CLIENT, {"gen_ai.request.stop_sequences": ["x"]})
    assert span.attributes["gen_ai.request.stop_sequences"] == ("x",)
    short = _provider(SpanLimits(max_span_attribute_length=3)).get_tracer(__name__)
    span = start_span(short, "s", None, SpanKind.CLIENT, {"gen_ai.request.model": "gpt-4o"})
    assert span.attributes["gen_ai.request.model"] == "gpt"
    assert len(cleaned) == 2
