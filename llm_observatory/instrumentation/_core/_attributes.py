"""``span.set_attributes`` with the same result, for less work on the SDK's own span.

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


def set_attributes(span: Any, attributes: Mapping[str, Any]) -> None:
    """Set ``attributes`` on ``span``, exactly as ``span.set_attributes(attributes)`` would."""
    if type(span) is _SdkSpan and span._end_time is None:
        bounded: Any = span._attributes
        limit = bounded.maxlen
        if type(bounded) is _Bounded and (limit is None or len(bounded._dict) + len(attributes) <= limit):
            store = bounded._dict
            max_len = bounded.max_value_len
            if max_len is None and _PLAIN.issuperset(map(type, attributes.values())):
                for key in store.keys() & attributes.keys():
                    del store[key]  # a key set again moves to the end, as in the SDK (its eviction order)
                store.update(attributes)  # the usual case: one check and one copy, both in C
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
            return
    span.set_attributes(attributes)


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
