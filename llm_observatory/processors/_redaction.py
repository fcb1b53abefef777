"""PII and secret redaction: detectors, the redactor, and the exporters that apply it to every span.

Two places apply it:

* **capture time**: content that LLM Observatory itself records (messages, tool arguments,
  decorator inputs and outputs) is redacted before it is serialised;
* **export time**: :class:`RedactingSpanExporter` wraps the exporters that ``init()`` sets up and
  exports redacted copies of *every* span, third-party ones included. (OpenTelemetry freezes a
  span's attributes before any processor's ``on_end``, so the export-time pass works on copies.)

Keys that carry no free text (token counts, ids, model names, costs, durations, status) are never
touched: see :data:`ALLOWED_KEYS` and :data:`ALLOWED_PREFIXES`. Redaction fails closed: a value
whose scan raises becomes ``[REDACTION_FAILED]``, never the raw value.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import hmac
import importlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status

from .. import semconv as sc

logger = logging.getLogger("llm_observatory")

FAILED = "[REDACTION_FAILED]"

#: Attribute keys whose values are never free text: left untouched.
ALLOWED_KEYS = frozenset({
    sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_REQUEST_MODEL, sc.GEN_AI_RESPONSE_MODEL,
    sc.GEN_AI_RESPONSE_ID, sc.GEN_AI_RESPONSE_FINISH_REASONS, sc.GEN_AI_OUTPUT_TYPE, sc.GEN_AI_TOOL_NAME,
    sc.GEN_AI_TOOL_TYPE, sc.GEN_AI_TOOL_CALL_ID, sc.GEN_AI_AGENT_NAME, sc.GEN_AI_AGENT_ID, sc.GEN_AI_WORKFLOW_NAME,
    sc.GEN_AI_CONVERSATION_ID, sc.GEN_AI_DATA_SOURCE_ID, sc.GEN_AI_TOKEN_TYPE, sc.SERVER_ADDRESS, sc.SERVER_PORT,
    sc.ERROR_TYPE, sc.OPENAI_API_TYPE, sc.OPENAI_REQUEST_SERVICE_TIER, sc.OPENAI_RESPONSE_SERVICE_TIER,
    sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, sc.ANTHROPIC_RESPONSE_SPEED, sc.GEN_AI_RESPONSE_STATUS, sc.LLM_SPAN_KIND,
    sc.LLM_RESPONSE_RAW_FINISH_REASONS, sc.SERVICE_NAME, sc.DEPLOYMENT_ENVIRONMENT_NAME,
})
#: Key prefixes of numeric and enumerated attributes: left untouched.
ALLOWED_PREFIXES = ("gen_ai.usage.", "gen_ai.request.", "llm.cost.", "llm.usage.", "llm.stream.",
                    "llm.count_tokens.", "llm.redaction.", "http.request.method", "http.response.status_code",
                    "telemetry.", "otel.", "process.pid", "exception.type")
#: The request attributes above that may hold free text, so are scanned after all.
_SCANNED_REQUEST_KEYS = frozenset({sc.GEN_AI_REQUEST_STOP_SEQUENCES})


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = ord(ch) - 48
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(match: str) -> bool:
    digits = re.sub(r"[ -]", "", match)
    return 13 <= len(digits) <= 19 and _luhn(digits)


def _iban(match: str) -> bool:
    compact = match.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _phone(match: str) -> bool:
    digits = sum(ch.isdigit() for ch in match)
    return 9 <= digits <= 15


@dataclass(frozen=True)
class Detector:
    """One kind of sensitive value: a regex, a check that a match is real, and a cheap prefilter.

    ``needs``: substrings of which one must occur for the regex to be worth running (``"0-9"``
    stands for any digit). Prefilters keep the common case (text with nothing to redact) cheap.
    """

    name: str
    pattern: str
    check: Callable[[str], bool] | None = None
    needs: tuple[str, ...] = ()


#: The built-in detectors, by name; switch one off with ``redact={"disable": ["PHONE"]}``.
BUILTIN: tuple[Detector, ...] = (
    Detector("PRIVATE_KEY", r"-----BEGIN (?:[A-Z ]+ )?PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z ]+ )?PRIVATE KEY-----",
             needs=("BEGIN",)),
    Detector("JWT", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", needs=("eyJ",)),
    Detector("ANTHROPIC_KEY", r"\bsk-ant-[A-Za-z0-9_-]{20,}", needs=("sk-ant-", "sk-")),
    Detector("OPENAI_KEY", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", needs=("sk-",)),
    Detector("AWS_ACCESS_KEY", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", needs=("AKIA", "ASIA")),
    Detector("GITHUB_TOKEN", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
             needs=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    Detector("BEARER_TOKEN", r"\b(?i:bearer)\s+[A-Za-z0-9._~+/=-]{16,}", needs=("earer", "EARER")),
    Detector("EMAIL", r"\b[\w.%+-]+@[\w.-]+\.[A-Za-z]{2,}\b", needs=("@",)),
    Detector("IBAN", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", _iban, needs=("A-Z0-9",)),
    Detector("IPV6", r"(?<![\w:])(?:[A-Fa-f0-9]{1,4}:){7}[A-Fa-f0-9]{1,4}(?![\w:])"
                     r"|(?<![\w:])(?:[A-Fa-f0-9]{1,4}:){1,6}:(?:[A-Fa-f0-9]{1,4}:){0,5}[A-Fa-f0-9]{1,4}(?![\w:])",
             needs=(":",)),
    # Digit-led detectors: run together, behind a lookahead that skips non-digit positions at once.
    Detector("CARD", r"\b(?:\d[ -]?){12,18}\d\b", _card, needs=("0-9",)),
    Detector("SSN", r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b", needs=("0-9",)),
    Detector("IPV4", r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b", needs=("0-9",)),
    Detector("PHONE", r"(?<![\w.+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}"
                      r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4}"
                      r"|0\d{1,4}(?:[ .-]\d{2,4}){1,4}[ .-]\d{2,8})(?!\w|\.\d)", _phone, needs=("0-9",)),
)
_DIGIT_LED = ("CARD", "SSN", "IPV4", "PHONE")


#: Where a digit-led value can be: the digit-led regexes run only on these windows.
_DIGIT_WINDOW = re.compile(r"[+(\d][\d .()+-]{5,}\d")
#: One scan for both digit prefilters: an IBAN's start (two capitals then two digits, ``DE89``),
#: and the digit-led windows above. Each branch's look-behind re-checks the character just read.
_DIGIT_SCAN = re.compile(r"[+(\dA-Z](?:(?<=[A-Z])[A-Z]\d\d|(?<![A-Z])[\d .()+-]{5,}\d)")
#: The same for ASCII text (most text): ``[0-9]`` is a plain bitmap test, ``\d`` a Unicode lookup.
_DIGIT_SCAN_ASCII = re.compile(r"[+(0-9A-Z](?:(?<=[A-Z])[A-Z][0-9][0-9]|(?<![A-Z])[0-9 .()+-]{5,}[0-9])")
_EMAIL_LEFT = re.compile(r"[\w.%+-]{1,64}$")
_EMAIL_RIGHT = re.compile(r"[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")


def _emails(value: str, replace: Callable[[str], str]) -> str:
    """Replace e-mail addresses, found from each ``@`` outwards (no scan of every word)."""
    out: list[str] = []
    start = 0
    at = value.find("@")
    while at != -1:
        left = _EMAIL_LEFT.search(value, max(start, at - 64), at)
        right = _EMAIL_RIGHT.match(value, at + 1)
        if left is not None and right is not None and (left.start() == 0 or not value[left.start() - 1].isalnum()):
            out.append(value[start:left.start()])
            out.append(replace(value[left.start():right.end()]))
            start = right.end()
        at = value.find("@", max(at + 1, start))
    out.append(value[start:])
    return "".join(out)


class _Features:
    """What a value contains, asked lazily: each prefilter is a substring search (``in``, a fast C
    scan), memoised, so a clean 2 KB message costs a few microseconds, not a regex pass."""

    __slots__ = ("_digits", "_memo", "_scan", "current", "scanned", "value")

    def __init__(self, value: str) -> None:
        self.value = value
        #: The value as the earlier passes left it (set before each pass).
        self.current = value
        self._memo: dict[str, bool] = {}
        self._digits: bool | None = None
        #: The value that :meth:`digit_scan` last scanned, and what it found.
        self.scanned: str | None = None
        self._scan: tuple[bool, list[tuple[int, int]]] = (False, [])

    def digit_scan(self) -> tuple[bool, list[tuple[int, int]]]:
        """Whether the current value has an IBAN's start, and its digit-led windows: one regex pass."""
        value = self.current
        if self.scanned is not value:
            iban, windows = False, []
            scan = _DIGIT_SCAN_ASCII if value.isascii() else _DIGIT_SCAN
            for found in scan.finditer(value):
                if found.group()[0] > "@":  # a capital: an IBAN's start
                    iban = True
                else:
                    windows.append(found.span())
            self.scanned, self._scan = value, (iban, windows)
        return self._scan

    def digits(self) -> bool:
        if self._digits is None:
            value = self.value
            self._digits = any(d in value for d in "0123456789")
        return self._digits

    def contains(self, needle: str) -> bool:
        found = self._memo.get(needle)
        if found is None:
            gate = _gate(needle)
            # A single-character search (memchr) first: most needles hold a character that
            # ordinary text rarely has (an upper-case letter, "_", "-"), and then it is absent.
            found = (gate is None or gate in self.value) and needle in self.value
            self._memo[needle] = found
        return found


@functools.lru_cache(maxsize=256)
def _gate(needle: str) -> str | None:
    """The character of ``needle`` least likely in ordinary text: not a lower-case letter or a space."""
    for char in needle:
        if not (char.islower() or char == " "):
            return char
    return None


class _Pass:
    """One regex pass over a value: one detector, or several digit-led ones together.

    ``window``: a regex finding the only places where this pass can match; the detectors then run
    on those windows instead of on the whole value (a large saving on long ordinary text).
    """

    __slots__ = ("detectors", "needs", "regex", "singles", "timed", "window")

    def __init__(self, detectors: list[Detector], window: re.Pattern[str] | None = None, *,
                 engine: Any = re) -> None:
        self.detectors = detectors
        #: Each detector alone, for a second chance at a match another detector's check refused.
        self.singles: list[re.Pattern[str]] = [engine.compile(d.pattern) for d in detectors]
        joined = "|".join(f"(?P<d{i}>{d.pattern})" for i, d in enumerate(detectors))
        self.regex: re.Pattern[str] = engine.compile(joined)
        self.needs = detectors[0].needs
        self.window = window
        #: Compiled by the ``regex`` package, whose matching can be stopped at a deadline.
        self.timed = engine is not re

    def sub(self, replace: Callable[[re.Match[str]], str], value: str, features: _Features,
            deadline: float = 0.0) -> str:
        if self.timed:  # a user's pattern: it may backtrack without end, so it is given the time left
            timed: Any = self.regex
            result: str = timed.sub(replace, value, timeout=max(deadline - time.perf_counter(), 0.0))
            return result
        if self.window is None:
            return self.regex.sub(replace, value)
        iban, windows = features.digit_scan()  # of this value: done already if the IBAN prefilter saw it
        if not iban:  # an IBAN's start can hide the first digits of a window from that scan
            out: list[str] = []
            start = 0
            for begin, end in windows:
                out += (value[start:begin], self.regex.sub(replace, value[begin:end]))
                start = end
            out.append(value[start:])
            return "".join(out) if windows else value
        return self.window.sub(lambda w: self.regex.sub(replace, w.group()), value)

    def applies(self, features: _Features) -> bool:
        if not self.needs:
            return True
        for need in self.needs:
            if need == "0-9":
                if features.digits():
                    return True
            elif need == "A-Z0-9":
                if features.digits() and features.digit_scan()[0]:
                    return True
            elif features.contains(need):
                return True
        return False


def _timed_engine() -> Any:
    """The ``regex`` package (tiktoken depends on it), whose ``sub`` takes a timeout; without it,
    ``re``, and a value is then checked against its deadline only between patterns."""
    try:
        return importlib.import_module("regex")
    except ImportError:  # pragma: no cover - tiktoken installs it
        return re


@dataclass
class RedactionOptions:
    """``init(redact=...)``: ``True``/``False``, or a mapping/instance of these fields."""

    enabled: bool = True
    mode: str = "mask"  # "mask": [REDACTED:EMAIL]; "hash": [EMAIL:3f2a1b9c] (HMAC-SHA256 with `key`)
    key: bytes | None = None
    disable: Sequence[str] = ()
    patterns: Mapping[str, str] = field(default_factory=dict)  # extra detectors: name -> regex
    callable: Callable[[str], str] | None = None  # last word: gets each (already redacted) string
    allow_keys: Sequence[str] = ()
    #: A value whose redaction takes longer fails closed. Your own patterns are stopped at this
    #: deadline (they run on the ``regex`` package); the built-ins run in linear time.
    timeout_ms: float = 100.0


class Redactor:
    """Replaces what the detectors find in strings; thread-safe and stateless per call."""

    def __init__(self, options: RedactionOptions | None = None) -> None:
        options = options or RedactionOptions()
        if options.mode not in ("mask", "hash"):
            raise ValueError(f"redaction mode must be 'mask' or 'hash', got {options.mode!r}")
        if options.mode == "hash" and not options.key:
            raise ValueError("redaction mode 'hash' needs a key (redact={'mode': 'hash', 'key': b'...'})")
        disabled = {d.upper() for d in options.disable}
        enabled = [d for d in BUILTIN if d.name not in disabled]
        passes = [_Pass([d]) for d in enabled if d.name not in _DIGIT_LED]
        digit_led = [d for d in enabled if d.name in _DIGIT_LED]
        if digit_led:
            passes.append(_Pass(digit_led, _DIGIT_WINDOW))
        if options.patterns:
            engine = _timed_engine()
            passes += [_Pass([Detector(name.upper(), pattern)], engine=engine)
                       for name, pattern in options.patterns.items()]
        self._passes = passes
        self._timeout_s = options.timeout_ms / 1000
        self._mode = options.mode
        self._key = options.key
        self._callable = options.callable
        self._allow = ALLOWED_KEYS | frozenset(options.allow_keys)

    def _replacement(self, name: str, value: str) -> str:
        if self._mode == "hash" and self._key:
            digest = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:12]
            return f"[{name}:{digest}]"
        return f"[REDACTED:{name}]"

    def text(self, value: str) -> tuple[str, int]:
        """``value`` with every detected item replaced, and how many were replaced.

        A redaction that overruns its time is tried once more, with the whole time again: the
        clock also ran through what paused this thread (a full garbage collection in a large app
        takes 0.1 s; other threads holding the GIL), which rarely happens twice in a row. A
        pattern that backtracks without end overruns both times, and fails closed."""
        try:
            try:
                return self._text(value)
            except TimeoutError:
                return self._text(value)
        except Exception as exc:  # fail closed
            logger.debug("LLM Observatory: redaction failed: %s", exc)
            return FAILED, 1

    def _text(self, value: str) -> tuple[str, int]:
        count = 0
        deadline = time.perf_counter() + self._timeout_s
        features = _Features(value)
        for scan in self._passes:
            features.current = value
            if not scan.applies(features):
                continue
            if time.perf_counter() > deadline:
                raise TimeoutError("redaction took longer than its timeout")
            if scan.detectors[0].name == "EMAIL":
                def email(found: str) -> str:
                    nonlocal count
                    count += 1
                    return self._replacement("EMAIL", found)

                value = _emails(value, email)
                continue

            def replace(match: re.Match[str], scan: _Pass = scan) -> str:
                nonlocal count
                index = int(match.lastgroup[1:])  # type: ignore[index]
                detector = scan.detectors[index]
                found = match.group()
                if detector.check is not None and not detector.check(found):
                    # e.g. 13 digits that fail the card checksum may still be a phone number
                    for other, single in zip(scan.detectors, scan.singles, strict=True):
                        if other is not detector and single.fullmatch(found) \
                                and (other.check is None or other.check(found)):
                            count += 1
                            return self._replacement(other.name, found)
                    return found
                count += 1
                return self._replacement(detector.name, found)

            value = scan.sub(replace, value, features, deadline)
        if self._callable is not None:
            changed = self._callable(value)
            if changed != value:
                count += 1
            value = changed
        if time.perf_counter() > deadline:
            raise TimeoutError("redaction took longer than its timeout")
        return value, count

    def value(self, value: Any) -> tuple[Any, int]:
        """Redact a string, or every string in a (nested) list, tuple or dict."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (list, tuple)):
            total, out = 0, []
            for item in value:
                red, n = self.value(item)
                out.append(red)
                total += n
            return (tuple(out) if isinstance(value, tuple) else out), total
        if isinstance(value, dict):
            total, mapped = 0, {}
            for k, item in value.items():
                red, n = self.value(item)
                mapped[k] = red
                total += n
            return mapped, total
        return value, 0

    def skips(self, key: str) -> bool:
        if key in self._allow:
            return True
        return key.startswith(ALLOWED_PREFIXES) and key not in _SCANNED_REQUEST_KEYS

    def attributes(self, attributes: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, int]:
        if not attributes:
            return None, 0
        total, out, changed = 0, {}, False
        for key, val in attributes.items():
            if self.skips(key) or not isinstance(val, (str, tuple, list)):
                out[key] = val
                continue
            red, n = self.value(val)
            if n:
                changed = True
                total += n
            out[key] = red
        return (out if changed else None), total


def redact_span(redactor: Redactor, span: ReadableSpan) -> ReadableSpan:
    """A copy of ``span`` with its attributes, event attributes and status description redacted."""
    attrs, count = redactor.attributes(span.attributes)
    events = list(span.events)
    changed_events = False
    for i, event in enumerate(events):
        red, n = redactor.attributes(event.attributes)
        if red is not None:
            events[i] = Event(event.name, red, event.timestamp)
            changed_events = True
            count += n
    status = span.status
    if status.description:
        text, n = redactor.text(status.description)
        if n:
            status = Status(status.status_code, text)
            count += n
    if not count:
        return span
    new_attrs = dict(attrs if attrs is not None else span.attributes or {})
    new_attrs[sc.LLM_REDACTION_COUNT] = count + int(new_attrs.get(sc.LLM_REDACTION_COUNT, 0) or 0)
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource,
        attributes=new_attrs, events=events if changed_events else span.events, links=span.links,
        kind=span.kind, status=status, start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactingSpanExporter(SpanExporter):
    """Exports redacted copies of every span to ``inner``."""

    def __init__(self, inner: SpanExporter, redactor: Redactor) -> None:
        self.inner = inner
        self.redactor = redactor

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([redact_span(self.redactor, s) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class RedactingLogExporter(LogRecordExporter):
    """Exports redacted copies of every log record (attributes and a string body) to ``inner``."""

    def __init__(self, inner: LogRecordExporter, redactor: Redactor) -> None:
        self.inner = inner
        self.redactor = redactor

    def _redact(self, record: Any) -> Any:
        log = record.log_record
        attrs, count = self.redactor.attributes(log.attributes)
        body, n = self.redactor.value(log.body) if isinstance(log.body, (str, list, tuple, dict)) else (log.body, 0)
        if not count and not n:
            return record
        copied = copy.copy(log)
        if attrs is not None:
            copied.attributes = attrs
        copied.body = body
        return dataclasses.replace(record, log_record=copied)

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        return self.inner.export([self._redact(r) for r in batch])

    def shutdown(self) -> None:
        self.inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def redaction_options(value: Any) -> RedactionOptions | None:
    """``init(redact=...)`` → options (``None``: off)."""
    if value is None or value is False:
        return None
    if value is True:
        return RedactionOptions()
    if isinstance(value, RedactionOptions):
        return value if value.enabled else None
    if isinstance(value, Mapping):
        options = RedactionOptions(**dict(value))
        return options if options.enabled else None
    raise ValueError(f"redact must be True, False, a mapping or RedactionOptions, got {type(value).__name__}")


def all_detector_names() -> Iterable[str]:
    return (d.name for d in BUILTIN)
