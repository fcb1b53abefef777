from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_observatory.testing import Capture, capture

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def toy_instrumented() -> Iterator[None]:
    """The toy provider SDK (tests/core/toy.py) instrumented for the test."""
    from tests.core import toy

    inst = toy.ToyInstrumentor()
    inst.instrument()
    yield
    inst.uninstrument()


@pytest.fixture
def cap() -> Iterator[Capture]:
    with capture() as c:
        yield c


@pytest.fixture
def cap_content() -> Iterator[Capture]:
    with capture(capture_content=True) as c:
        yield c


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 60,
               args: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (init() touches process-wide globals)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLM_OBSERVATORY_"))}
    full_env.update(env or {})
    cmd = args if args is not None else [sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ROOT)
