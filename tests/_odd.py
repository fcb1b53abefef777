"""Differential runs on odd input (see ``_mutate``): the same call with and without the
instrumentation, what the application gets from each in a form the two can be compared by, and
what went wrong inside (internal errors, OpenTelemetry warnings, schema-invalid content)."""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from llm_observatory.pricing import _background
from llm_observatory.testing import capture

from ._mutate import mutate

#: what differs from run to run of the same call: object addresses, and the ids frameworks make up
_ADDRESS = re.compile(r" at 0x[0-9a-f]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _dump(value: Any) -> Any:
    if isinstance(value, list):
        return [_dump(v) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return type(value).__qualname__, dump(warnings=False)
        except Exception as exc:  # a body odd enough that the SDK's own model cannot dump it
            return type(value).__qualname__, "cannot dump", type(exc).__qualname__
    return value


def outcome(run: Callable[[], Any]) -> tuple[str, ...]:
    """``run()``'s value, or the exception it raised (type and message), as comparable text:
    ``repr`` (a NaN equals itself there), without object addresses or made-up ids."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the SDK's models warn of the odd types they hold)
        try:
            value = run()
        except Exception as exc:
            return "raised", type(exc).__qualname__, _ADDRESS.sub("", str(exc))
        return "returned", _ADDRESS.sub("", repr(_dump(value)))


def reset_reports(caplog: Any) -> None:
    """Capture the instrumentation's internal errors from here (each of them, not only a site's
    first), and the OpenTelemetry SDK's warnings (a value it had to drop or change)."""
    caplog.clear()
    caplog.set_level(logging.WARNING, logger="opentelemetry")
    caplog.set_level(logging.DEBUG, logger="llm_observatory")  # (last: it sets the capturing handler's level too)


def internal_errors(caplog: Any) -> list[str]:
    """What went wrong since :func:`reset_reports`: the instrumentation's internal errors, with
    their cause, and what the OpenTelemetry SDK warned of (a value the instrumentation gave it)."""
    return [f"{r.getMessage()}: {r.exc_info[1]!r}" if r.exc_info else r.getMessage()
            for r in caplog.records
            if (r.name.startswith("llm_observatory") and "internal error" in r.getMessage())
            or (r.name.startswith("opentelemetry") and r.levelno >= logging.WARNING)]


def odd_failures(make: Callable[[int], tuple[Callable[[], Any], Any]], instrumented: Any, caplog: Any,
                 seeds: Iterable[int], content: bool = False, stream_usage: bool = False,
                 settle: Callable[[], object] | None = None) -> list[str]:
    """For each seed, ``make(seed)`` gives a call to run and the fake API it talks to (its
    ``change`` says what is odd, its ``requests`` what was sent); the call runs with and without
    the instrumentation (capturing ``content`` or not, asking for usage or not). Returned: what
    differs between the two (the outcome, or the requests sent), a span count other than one,
    and what went wrong inside. ``settle``, run after the call, ends what a framework left open
    (as a shutdown does): a span it ends (``llm.unfinished``) is fine only if the call raised."""
    failures: list[str] = []
    seeds = list(seeds)
    with capture():  # (once first, and the price data it starts loading awaited: the same prices for every case)
        outcome(make(seeds[0])[0])
    _background.wait()
    for seed in seeds:
        reset_reports(caplog)
        run, fake = make(seed)
        with capture(capture_content=content, stream_usage=stream_usage) as cap:
            traced = outcome(run)
            if settle is not None:
                settle()
        spans = cap.spans()
        errors = internal_errors(caplog)
        instrumented.uninstrument()
        try:
            run, plain_fake = make(seed)
            plain = outcome(run)
        finally:
            instrumented.instrument()
        where = f"seed {seed}, {fake.change}"
        if traced != plain:
            failures.append(f"{where}: the application got {traced!r} instrumented, {plain!r} not")
        sent, plain_sent = _bodies(fake), _bodies(plain_fake)
        if sent != plain_sent and not stream_usage:
            failures.append(f"{where}: sent {sent} instrumented, {plain_sent} not")
        if len(spans) != 1:
            failures.append(f"{where}: {len(spans)} spans")
        failures += [f"{where}: {problem}" for problem in _schema_problems(spans)]
        if traced[0] != "raised" and any((s.attributes or {}).get("llm.unfinished") for s in spans):
            failures.append(f"{where}: the call returned, but its span was left open")
        failures += [f"{where}: {error}" for error in errors]
    return failures


_SCHEMAS = {"gen_ai.input.messages": "input", "gen_ai.output.messages": "output",
            "gen_ai.system_instructions": "system"}


_validators: dict[str, Any] = {}


def _schema_problems(spans: Any) -> list[str]:
    """Content attributes that do not validate against the GenAI message schemas."""
    import jsonschema

    if not _validators:  # (built once: jsonschema.validate checks and compiles its schema each time)
        from tests.openai.schema import INPUT_MESSAGES, OUTPUT_MESSAGES, SYSTEM_INSTRUCTIONS

        for kind, schema in (("input", INPUT_MESSAGES), ("output", OUTPUT_MESSAGES), ("system", SYSTEM_INSTRUCTIONS)):
            _validators[kind] = jsonschema.validators.validator_for(schema)(schema)
    problems = []
    for span in spans:
        for key, kind in _SCHEMAS.items():
            value = (span.attributes or {}).get(key)
            if value is None:
                continue
            try:
                _validators[kind].validate(json.loads(value))
            except (ValueError, jsonschema.ValidationError) as exc:
                problems.append(f"{key} is not schema-valid: {str(exc).splitlines()[0]}")
    return problems


def _bodies(fake: Any) -> str:
    return repr([(r.get("path"), r.get("body")) for r in fake.requests])


def odd_body_failures(call: Callable[[Any], Any], fake_of: Callable[[int], Any], client_of: Callable[[Any], Any],
                      instrumented: Any, caplog: Any, seeds: Iterable[int], content: bool = False,
                      stream_usage: bool = False, settle: Callable[[], object] | None = None) -> list[str]:
    """:func:`odd_failures` for one ``call`` on a client (``client_of``) of a fake API that makes
    its answer odd by the seed (``fake_of``)."""

    def make(seed: int) -> tuple[Callable[[], Any], Any]:
        fake = fake_of(seed)
        return (lambda: call(client_of(fake))), fake

    return odd_failures(make, instrumented, caplog, seeds, content, stream_usage, settle)


def odd_request_failures(method: Callable[[Any], Any], kwargs: dict[str, Any], fake_of: Callable[[], Any],
                         client_of: Callable[[Any], Any], instrumented: Any, caplog: Any, seeds: Iterable[int],
                         content: bool = False, read: Callable[[Any], Any] = lambda result: result) -> list[str]:
    """:func:`odd_failures` for a call whose arguments (``kwargs``, given to ``method(client)``)
    are made odd by the seed, on a well-behaved fake API (``fake_of``); ``read`` reads the
    result (a stream's chunks, say)."""

    def make(seed: int) -> tuple[Callable[[], Any], Any]:
        odd, change = mutate(seed)(kwargs)
        fake = fake_of()
        fake.change = change
        return (lambda: read(method(client_of(fake))(**odd))), fake

    return odd_failures(make, instrumented, caplog, seeds, content)
