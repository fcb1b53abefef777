"""Redaction: a PII corpus that must never be exported raw, a corpus that must stay intact, fail-closed."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from opentelemetry import trace

from llm_observatory.processors._redaction import FAILED, RedactionOptions, Redactor
from llm_observatory.testing import capture
from tests.conftest import run_python
from tests.core import toy

rng = random.Random(20261126)


def _luhn_complete(prefix: str, length: int) -> str:
    digits = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return digits + str((10 - total % 10) % 10)


def _iban(country: str, bban: str) -> str:
    number = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(number) % 97
    raw = f"{country}{check:02d}{bban}"
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def _pii() -> list[str]:
    values: list[str] = []
    names = ["jane.doe", "j_smith+news", "müller", "o.brien", "li.wei", "ana-maria", "x", "first.last.99"]
    domains = ["example.com", "mail.example.co.uk", "корп.example.org", "b.io", "uni-hamburg.de"]
    values += [f"{n}@{d}" for n in names for d in domains if d.isascii()][:36]
    values += ["+44 20 7946 0958", "+1 (415) 555-0100", "+33 6 12 34 56 78", "+49 30 1234567", "+81 3-1234-5678",
               "+61 2 9876 5432", "+34 912 345 678", "+91 98765 43210", "+55 11 91234-5678", "+86 10 1234 5678",
               "020 7946 0958", "06 12 34 56 78", "(212) 555-0199", "415.555.0100", "212-555-0147",
               "+353 1 234 5678", "+7 495 123-45-67", "+27 21 123 4567", "0049 30 1234567", "+1 800 555 0199"]
    for prefix, length in (("4", 16), ("51", 16), ("37", 15), ("6011", 16), ("35", 16), ("4", 13), ("62", 19)):
        for _ in range(5):
            n = _luhn_complete(prefix, length)
            values.append(n)
            values.append(" ".join(n[i:i + 4] for i in range(0, len(n), 4)))
    values += [_iban(c, b) for c, b in (("GB", "WEST12345698765432"), ("DE", "370400440532013000"),
                                        ("FR", "20041010050500013M02606"), ("NL", "ABNA0417164300"),
                                        ("ES", "21000418450200051332"), ("IT", "X0542811101000000123456"),
                                        ("CH", "0076201162385295"), ("BE", "539007547034"))]
    values += ["123-45-6789", "219-09-9999", "078-05-1120", "512-34-9876", "432-11-0001"]
    values += [f"+{rng.choice([1, 33, 44, 49, 61, 81])} {rng.randrange(10, 99)} {rng.randrange(1000, 9999)} "
               f"{rng.randrange(1000, 9999)}" for _ in range(20)]
    values += [f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
               for _ in range(12)]
    values += ["192.168.1.20", "10.0.0.1", "172.16.254.3", "8.8.8.8", "255.255.255.0", "100.64.0.7",
               "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "fe80::1ff:fe23:4567:890a", "2001:db8::ff00:42:8329"]
    values += ["sk-proj-" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789") for _ in range(40))
               for _ in range(5)]
    values += ["sk-ant-api03-" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789_-") for _ in range(60))
               for _ in range(5)]
    values += ["AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)) for _ in range(5)]
    values += ["ghp_" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789") for _ in range(36))
               for _ in range(4)]
    values += ["github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz012345"]
    values += ["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
               "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"]
    values += ["Bearer 0123456789abcdefghijKLMNOPQRSTUV", "bearer AbCdEfGhIjKlMnOpQrStUv.wxyz"]
    values += ["-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END RSA PRIVATE KEY-----",
               "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"]
    return values


PII = _pii()
SENTENCES = ["Contact me at {}.", "Kontakt: {} bitte.", "Mi número es {}", "連絡先: {} です", "Votre IBAN : {} merci",
             "Пишите на {} пожалуйста", "My details: {}\nthanks", "({})", "value={};", "{}"]

INTACT = [
    "Used 1234 input tokens and 567 output tokens.", "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "id 123e4567-e89b-12d3-a456-426614174000", "2024-11-26T10:00:00Z", "2026-01-02 13:45:10.123", "01-02-2024",
    "gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022", "anthropic.claude-3-5-sonnet-20240620-v1:0", "$0.0021 per call",
    "price: 2.50 USD / 1M tokens", "for i in range(10):\n    print(i * 3.14159)", "x = [1, 2, 3, 4, 5, 6, 7, 8]",
    "order 1234-5678-9012", "invoice INV-2024-000123", "version 1.92.0 and 3.57.0", "ratio 0.75, p95 1.2s",
    "call_VSPygqKTWdrhaFErNvMV18Yl", "chatcmpl-ASYMZ4oSykiIFK4lXLReDiKyAjsQl", "msg_014hJgXY5GTiK7vmiVS5B48p",
    "sha256:9f86d081884c7d659a2feaa0c55ad015", "port 8080, pid 4242", "@mention and #tag", "ask-me-anything",
    "10:30 to 11:45", "HTTP/1.1 200 OK",
]


def test_corpus_is_large_enough() -> None:
    assert len(PII) >= 200


@pytest.mark.parametrize("value", PII)
def test_every_pii_value_is_redacted_in_any_sentence(value: str) -> None:
    redactor = Redactor()
    for template in SENTENCES:
        text = template.format(value)
        redacted, count = redactor.text(text)
        assert value not in redacted, (text, redacted)
        assert count >= 1


@pytest.mark.parametrize("value", INTACT)
def test_no_false_positives(value: str) -> None:
    assert Redactor().text(value) == (value, 0)


def test_hash_mode_correlates_without_revealing() -> None:
    r = Redactor(RedactionOptions(mode="hash", key=b"secret-key"))
    a, _ = r.text("mail jane@example.com")
    b, _ = r.text("again jane@example.com")
    c, _ = r.text("other bob@example.com")
    token = a.split()[-1]
    assert token.startswith("[EMAIL:") and token in b and token not in c
    with pytest.raises(ValueError, match="needs a key"):
        Redactor(RedactionOptions(mode="hash"))


def test_custom_patterns_disable_and_callable() -> None:
    r = Redactor(RedactionOptions(disable=["EMAIL"], patterns={"employee_id": r"\bEMP-\d{6}\b"},
                                  callable=lambda s: s.replace("Project Falcon", "[REDACTED:CODENAME]")))
    text, count = r.text("EMP-123456 on Project Falcon mailed jane@example.com")
    assert text == "[REDACTED:EMPLOYEE_ID] on [REDACTED:CODENAME] mailed jane@example.com"
    assert count == 2


def test_fail_closed() -> None:
    def broken(_: str) -> str:
        raise RuntimeError("detector crashed")

    r = Redactor(RedactionOptions(callable=broken))
    assert r.text("anything at all") == (FAILED, 1)


def test_a_pattern_that_backtracks_without_end_times_out_and_fails_closed() -> None:
    import time

    evil = "a" * 60 + "!"  # (a|aa)+$ backtracks a Fibonacci number of times (~10**12) on this
    r = Redactor(RedactionOptions(patterns={"runaway": r"(a|aa)+$"}, timeout_ms=50))
    t0 = time.perf_counter()
    assert r.text(f"mail jane@example.com {evil}") == (FAILED, 1)
    assert time.perf_counter() - t0 < 5  # stopped at its deadline, not run to the end
    assert r.text("mail jane@example.com, nothing else") == ("mail [REDACTED:EMAIL], nothing else", 1)


def test_a_slow_callable_fails_closed() -> None:
    import time

    def slow(value: str) -> str:
        time.sleep(0.03)
        return value

    assert Redactor(RedactionOptions(callable=slow, timeout_ms=10)).text("jane@example.com") == (FAILED, 1)
    assert Redactor(RedactionOptions(callable=slow, timeout_ms=1000)).text("jane@example.com") \
        == ("[REDACTED:EMAIL]", 1)


def test_a_redaction_paused_once_is_tried_again_not_failed() -> None:
    # The deadline is wall-clock time, which also runs through what pauses the thread: a full
    # garbage collection in a large app (0.1 s), other threads holding the GIL. Once is no reason
    # to lose the value; every time (a slow callable, a runaway pattern) is.
    import time

    calls: list[float] = []

    def paused_once(value: str) -> str:
        calls.append(time.perf_counter())
        if len(calls) == 1:
            time.sleep(0.05)  # as a collection of a few hundred thousand objects takes
        return value

    r = Redactor(RedactionOptions(callable=paused_once, timeout_ms=20))
    assert r.text("mail jane@example.com") == ("mail [REDACTED:EMAIL]", 1)
    assert len(calls) == 2


def _exported_text(cap: Any) -> str:
    parts = []
    for s in cap.spans():
        parts.append(json.dumps(dict(s.attributes), ensure_ascii=False))
        parts += [json.dumps(dict(e.attributes or {}), ensure_ascii=False) for e in s.events]
        parts.append(s.status.description or "")
    return "\n".join(parts)


def test_pii_in_messages_tools_streams_and_third_party_spans(toy_instrumented: Any) -> None:
    import llm_observatory as observatory

    sample = PII[::7]
    with capture(capture_content=True) as cap:
        for value in sample:
            toy.Client().create(model="toy-1", prompt=f"Please contact {value} today")

            @observatory.tool
            def lookup(query: dict[str, Any], value: str = value) -> dict[str, Any]:
                return {"found": {"nested": [value]}}

            lookup({"filters": {"owner": value}})
            # split across stream chunks: the prompt's words come back as separate chunks
            list(toy.Client().create(model="toy-1", prompt=f"{value} is mine", stream=True))
            with trace.get_tracer("third.party", tracer_provider=cap.tracer_provider).start_as_current_span(
                    "vendor-span", attributes={"note": f"user {value}"}) as span:
                span.add_event("vendor-event", {"detail": value})
            try:
                raise ValueError(f"bad input from {value}")
            except ValueError:
                pass
    exported = _exported_text(cap)
    for value in sample:
        assert value not in exported
        for piece in value.split():
            if len(piece) >= 8 and not piece.startswith("-----"):
                assert piece not in exported, piece
    counts = [s.attributes.get("llm.redaction.count", 0) for s in cap.spans()]
    assert sum(counts) >= len(sample) * 4


def test_allow_listed_keys_are_untouched(toy_instrumented: Any) -> None:
    with capture(capture_content=True) as cap:
        toy.Client().create(model="toy-1", prompt="call +44 20 7946 0958")
    attrs = cap.span("chat toy-1").attributes
    assert attrs["gen_ai.usage.input_tokens"] == 7 and attrs["gen_ai.response.id"] == "r-1"
    assert "[REDACTED:PHONE]" in attrs["gen_ai.input.messages"]


def test_redaction_off_when_content_off_by_default() -> None:
    proc = run_python("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import llm_observatory as observatory
        for redact in (None, True):
            exporter = InMemorySpanExporter()
            observatory.init(exporter=exporter, batch=False, redact=redact, metrics=False)
            with trace.get_tracer("third.party").start_as_current_span("s", attributes={"note": "jane@example.com"}):
                pass
            print(redact, exporter.get_finished_spans()[-1].attributes["note"])
            observatory.shutdown()
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["None jane@example.com", "True [REDACTED:EMAIL]"]


def test_content_is_redacted_without_init_too() -> None:
    proc = run_python("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from tests.core import toy
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        toy.ToyInstrumentor().instrument(tracer_provider=provider)  # no init(): the app's own provider
        toy.Client().create(model="toy-1", prompt="write to jane@example.com")
        print(exporter.get_finished_spans()[0].attributes["gen_ai.input.messages"])
    """, env={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"})
    assert proc.returncode == 0, proc.stderr
    assert "[REDACTED:EMAIL]" in proc.stdout and "jane@example.com" not in proc.stdout


def test_the_one_pass_digit_prefilter_equals_running_every_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    """The IBAN hint and the digit windows come from one scan of the original text (an ASCII-only
    one for ASCII text): on any text, the result equals the redactor's with no prefilter at all."""
    from llm_observatory.processors import _redaction

    rng = random.Random(11)
    pieces = ["AB", "DE89", "GB82 WEST 1234 5698 7654 32", " ", "  ", "-", ".", "(", ")", "+", "0", "12",
              "555", "4111 1111 1111 1111", "+44 20 7946 0958", "٣٤٥", "x", "Zy", "\n", "192.168.1.20",
              "123-45-6789", "é", "(212) 555-0199", "ID12 345 678 901"]
    texts = [value for value in PII + INTACT] + ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 14)))
                                                for _ in range(3000)]
    redactor = Redactor()
    fast = [redactor.text(t) for t in texts]
    monkeypatch.setattr(_redaction._Features, "digit_scan", lambda self: (True, []))  # every pass, full scans
    assert [redactor.text(t) for t in texts] == fast
