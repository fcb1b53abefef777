"""Odd configuration: every option's environment variables set to values they do not take.

Configuration never crashes the host application: a value that cannot be parsed is reported with
a warning naming the variable, and the option keeps its default. Checked for every variable of
every option, in-process (``Options.resolve``), and with all of them odd at once through
``init()`` and an instrumented call in a fresh interpreter.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest

from llm_observatory._config import Options
from tests.conftest import run_python

ODD = ["", " ", "garbage", "-1", "0", "nan", "inf", "1e400", "true,false", "=", "a=b=c,,=x", "{", "[1, 2",
       "ü" * 3, "x" * 10_000, "\x00", "None"]
VARIABLES = sorted({var for f in dataclasses.fields(Options) for var in f.metadata["env"]})
DEFAULTS = Options.resolve(environ={})


@pytest.mark.parametrize("variable", VARIABLES)
def test_an_odd_value_is_parsed_or_warned_of_never_raised(variable: str, caplog: pytest.LogCaptureFixture) -> None:
    field = next(f for f in dataclasses.fields(Options) if variable in f.metadata["env"])
    for raw in ODD:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="llm_observatory"):
            options = Options.resolve(environ={variable: raw})  # never raises
        value = getattr(options, field.name)
        warned = any(variable in r.getMessage() for r in caplog.records)
        assert warned or value != getattr(DEFAULTS, field.name) or raw.strip() in ("", "0", "None") \
            or field.metadata["parse"] is None or _taken_as_text(field.name), (variable, raw)
        if warned:
            assert value == getattr(DEFAULTS, field.name), (variable, raw)  # the default is kept
        if isinstance(value, float):
            assert value == value and value not in (float("inf"), float("-inf")), (variable, raw)


def _taken_as_text(name: str) -> bool:
    """Options whose value is any text (a service name, an environment, an endpoint)."""
    return name in {"service_name", "environment", "endpoint"}


@pytest.mark.parametrize("raw", ["garbage", "-1", "nan", "=", "{"])
def test_init_and_a_call_with_every_variable_odd(raw: str) -> None:
    env = {var: raw for var in VARIABLES}
    proc = run_python("""
        import llm_observatory as observatory
        from tests.core import toy
        observatory.init()
        toy.ToyInstrumentor().instrument()
        print(toy.Client().create(model="toy-1", prompt="hi").text)
        observatory.shutdown()
    """, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "echo hi"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
