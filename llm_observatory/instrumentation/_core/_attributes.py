"""``span.set_attributes`` and ``tracer.start_span`` with the same result, for less work on the SDK's own span.

The SDK checks and copies every value it is given (``_clean_attribute_value``, then a locked
insert): about 40 bytecodes an attribute, which for the ~15 attributes an inference sets at its
end is more than a third of its overhead. A value of a plain type (``str`` within the length
limit, ``bool``, ``int``, ``float``) comes out of that unchanged, so :func:`set_attributes` puts
such values straight into the span's attribute store (one type check for the lot, in C), stores
a homogeneous sequence as the SDK's tuple, and hands anything else to ``span.set_attributes``,
in order. A span near its attribute limit takes the SDK's way whole (its eviction).

It reads three private fields of the SDK span (``_end_time``, ``_attributes`` and, on that,
``_dict``/``maxlen``/``max_value_len``). :func:`_self_check` compares both ways on a private
provider once at import; if they differ (a changed SDK), every call takes the public way.
Any other span (a ``NonRecordingSpan``, another SDK's or a wrapper) always takes it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

_log = logging.getLogger(__name__)

#: The types whose values the SDK stores unchanged (``str`` too, within ``max_value_len``).
_PLAIN = frozenset({str, bool, int, float})
_NUMBERS = frozenset({bool, int, float})
_SEQUENCES = frozenset({list, tuple})

_Bounded: Any = None
_SdkSpan: Any = None
try:  # the SDK is a dependency, but a host may run with the API alone
    from opentelemetry.attributes import BoundedAttributes as _Bounded
    from opentelemetry.sdk.trace import _Span as _SdkSpan
except ImportError:  # pragma: no cover
    pass


def _put(store: dict[str, Any], items: Mapping[str, Any]) -> None:
    """Put ``items`` in an SDK span's attribute store as the SDK does: a key set again moves to
    the end (its eviction order)."""
    for key in store.keys() & items.keys():
        del store[key]
    store.update(items)


def set_attributes(span: Any, attributes: Mapping[str, Any], str_tuples: Mapping[str, tuple[str, ...]] | None = None,
                   ) -> None:
    """Set ``attributes`` on ``span``, exactly as ``span.set_attributes(attributes)`` would; then
    ``str_tuples``, attributes whose values are all non-empty tuples of ``str`` (such as finish
    reasons), which then cost no check of their own."""
    if type(span) is _SdkSpan and span._end_time is None:
        bounded: Any = span._attributes
        limit = bounded.maxlen
        more = len(str_tuples) if str_tuples else 0
        if type(bounded) is _Bounded and (limit is None or len(bounded._dict) + len(attributes) + more <= limit):
            store = bounded._dict
            max_len = bounded.max_value_len
            if max_len is None and _PLAIN.issuperset(map(type, attributes.values())):
                _put(store, attributes)  # the usual case: one check and one copy, both in C
                if str_tuples:  # stored as given: the SDK copies such a tuple to an equal one
                    _put(store, str_tuples)
                return
            for key, value in attributes.items():
                kind = type(value)
                if kind in _NUMBERS or (kind is str and (max_len is None or len(value) <= max_len)):
                    store.pop(key, None)
                    store[key] = value
                elif kind in _SEQUENCES and value and max_len is None and _PLAIN.issuperset(map(type, value)) \
                        and len(set(map(type, value))) == 1:
                    store.pop(key, None)
                    store[key] = tuple(value)  # a homogeneous sequence: stored as a tuple, as the SDK does
                else:
                    span.set_attributes({key: value})  # the SDK's way, in turn (the order decides eviction)
            if str_tuples:
                set_attributes(span, str_tuples)
            return
    span.set_attributes(attributes)
    if str_tuples:
        span.set_attributes(str_tuples)


def _self_check() -> bool:
    """Both ways store the same attributes on this SDK: plain values and sequences, with
    no limits and with a length limit. (Values that would be truncated or evicted take the public
    way by design; they are left out, as the SDK would log warnings for them.)"""
    if _SdkSpan is None or _Bounded is None:
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import SpanLimits, TracerProvider

        plain: dict[str, Any] = {"s": "ab", "b": True, "i": 3, "f": 0.5}
        mixed: dict[str, Any] = {**plain, "seq": ["x", "y"], "nums": (1, 2)}
        for limits in (SpanLimits(), SpanLimits(max_span_attributes=16, max_span_attribute_length=8)):
            # an empty resource: the default one runs the resource detectors (~0.6 ms, at import)
            tracer = TracerProvider(resource=Resource.get_empty(), span_limits=limits).get_tracer(__name__)
            fast: Any = tracer.start_span("a", attributes={"start": 1})
            public: Any = tracer.start_span("b", attributes={"start": 1})
            if type(fast) is not _SdkSpan:
                return False
            for attributes in (plain, mixed):
                set_attributes(fast, attributes)
                public.set_attributes(attributes)
                if dict(fast.attributes or {}) != dict(public.attributes or {}):
                    return False
            fast.end()
            public.end()
        return True
    except Exception as exc:  # pragma: no cover - an SDK we do not know
        _log.debug("span attribute fast path off: %r", exc)
        return False


if not _self_check():  # pragma: no cover - an SDK whose span differs from the one we know
    _SdkSpan = None


# --- start attributes ---------------------------------------------------------------------------
#
# The SDK checks and copies the attributes a span starts with (~50 bytecodes an attribute, ~15%
# of an inference's overhead) so that the sampler and the processors' ``on_start`` see them. When
# the sampler is one that never reads them and every processor's ``on_start`` is one we know
# (the SDK's batch and simple processors, ours), nobody can see the difference: the span is
# started without them and they are put in its store before anything else can read it, in the
# place the SDK would have put them (before what an ``on_start`` added).

_SdkTracer: Any = None
try:
    from opentelemetry.sdk.trace import Tracer as _SdkTracer
    from opentelemetry.sdk.trace.export import BatchSpanProcessor as _Batch
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor as _Simple
    from opentelemetry.sdk.trace.sampling import ParentBased as _ParentBased
    from opentelemetry.sdk.trace.sampling import StaticSampler as _Static
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased as _Ratio
except ImportError:  # pragma: no cover
    pass

_PARENT_BASED_DELEGATES = ("_root", "_remote_parent_sampled", "_remote_parent_not_sampled",
                           "_local_parent_sampled", "_local_parent_not_sampled")

#: ``(tracer, its span processors, verdict)`` for the tracer last asked about
_last_verdict: tuple[Any, Any, bool] = (None, None, False)


def _blind_sampler(sampler: Any) -> bool:
    """The sampler decides without reading the span's attributes."""
    from ...processors._sampling import RuleSampler

    kind = type(sampler)
    if kind is RuleSampler:
        return not sampler.rules
    if issubclass(kind, _ParentBased):
        return all(_blind_sampler(getattr(sampler, name)) for name in _PARENT_BASED_DELEGATES) \
            and kind.should_sample is _ParentBased.should_sample
    return kind.should_sample in (_Static.should_sample, _Ratio.should_sample)


def _blind_processor(processor: Any) -> bool:
    """The processor's ``on_start`` reads no attribute of the span (it may add its own)."""
    from ...processors._enrich import ContextEnrichmentProcessor
    from ...processors._sampling import TailSamplingProcessor

    kind = type(processor)
    if kind is TailSamplingProcessor:
        return _blind_processor(processor.downstream)
    return kind in (_Batch, _Simple, ContextEnrichmentProcessor)


def start_attributes_unread(tracer: Any) -> bool:
    """Nothing reads a span's start attributes before :func:`start_span` has put them in, and
    the SDK would store them unchanged (no length limit). Kept for the tracer while its
    processors stay the same (the SDK makes a new tuple of them when one is added; a tracer's
    sampler and limits are its provider's, fixed)."""
    global _last_verdict
    last = _last_verdict
    if last[0] is tracer and (last[1] is None or last[1] is tracer.span_processor._span_processors):
        return last[2]
    processors = None
    verdict = False
    if type(tracer) is _SdkTracer and _SdkSpan is not None:
        try:
            processors = tracer.span_processor._span_processors
            verdict = type(processors) is tuple and tracer._span_limits.max_span_attribute_length is None \
                and _blind_sampler(tracer.sampler) and all(map(_blind_processor, processors))
        except Exception as exc:  # pragma: no cover - an SDK we do not know
            _log.debug("span start attribute fast path off: %r", exc)
            processors, verdict = None, False
    _last_verdict = (tracer, processors, verdict)
    return verdict


def start_span(tracer: Any, name: str, context: Any, kind: Any, attributes: dict[str, Any]) -> Any:
    """``tracer.start_span(name, context, kind, attributes)``, exactly, for less work where nobody
    can read the attributes before the span is returned (see above)."""
    if start_attributes_unread(tracer) and _PLAIN.issuperset(map(type, attributes.values())):
        span = tracer.start_span(name, context, kind)
        if type(span) is _SdkSpan:
            bounded: Any = span._attributes
            store = bounded._dict
            limit = bounded.maxlen
            if limit is None or len(store) + len(attributes) <= limit:
                if not store:
                    store.update(attributes)
                    return span
                # an on_start added attributes: they go after ours, as when the SDK had set ours first
                later = dict(store)
                store.clear()
                store.update(attributes)
                _put(store, later)
                return span
            # more than the limit holds: the SDK's own inserts, in its order (which decides the eviction)
            later = dict(store)
            store.clear()
            for key, value in attributes.items():
                bounded[key] = value
            for key, value in later.items():
                bounded[key] = value
        return span
    return tracer.start_span(name, context, kind, attributes)
