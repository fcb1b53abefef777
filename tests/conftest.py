from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_observatory.testing import Capture, capture

ROOT = Path(__file__).resolve().parent.parent


def _prices_without_genai_prices() -> None:
    """genai-prices needs Python 3.11+: on 3.10 the default price table has no data, and only the
    user's overrides price calls (docs/cost.md). The tests then price the models they call with
    overrides of the same shape, so the cost path is exercised on every Python; the comparisons
    with genai-prices itself (tests/pricing/test_prices.py) are skipped there."""
    try:
        import genai_prices  # noqa: F401
    except ImportError:
        from llm_observatory import pricing

        pricing._default = pricing.PriceTable([
            pricing.PriceOverride("gpt-*", input=0.15, output=0.6, cache_read=0.075),
            pricing.PriceOverride("o*", input=1.1, output=4.4, cache_read=0.275),
            pricing.PriceOverride("text-embedding-*", input=0.02, output=0.0),
            pricing.PriceOverride("claude-*", input=3.0, output=15.0, cache_read=0.3, cache_write=3.75),
        ])


_prices_without_genai_prices()


@pytest.fixture
def toy_instrumented() -> Iterator[None]:
    """The toy provider SDK (tests/core/toy.py) instrumented for the test."""
    from tests.core import toy

    inst = toy.ToyInstrumentor()
    inst.instrument()
    yield
    inst.uninstrument()


@pytest.fixture(params=[None, 2], ids=["whole", "spilled"])
def spill_sizes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run a stream test twice: with the chunks read at the end, and spilled to the handler every
    two chunks (as a long stream is). Both must give the same spans."""
    if request.param is not None:
        from llm_observatory.instrumentation._core import _stream

        monkeypatch.setattr(_stream, "SPILL_AT", request.param)


@pytest.fixture
def cap() -> Iterator[Capture]:
    with capture() as c:
        yield c


@pytest.fixture
def cap_content() -> Iterator[Capture]:
    with capture(capture_content=True) as c:
        yield c


def span_tree(cap: Capture, unordered: Any = None) -> list[Any]:
    """The captured span forest as nested ``(name, [children])`` (a leaf is its name), children in
    start order; under spans for which ``unordered(name)`` is true (concurrent branches), by name."""
    spans = cap.snapshot()
    children: dict[Any, list[dict[str, Any]]] = {}
    for s in spans:
        children.setdefault(s["parent_id"], []).append(s)

    def build(span: dict[str, Any]) -> Any:
        kids = [build(c) for c in children.get(span["span_id"], [])]
        if unordered is not None and unordered(span["name"]):
            kids.sort(key=lambda k: k if isinstance(k, str) else k[0])
        return (span["name"], kids) if kids else span["name"]
    return [build(s) for s in children.get(None, [])]


def traced_and_plain(instrumentor: Any, run: Any) -> tuple[Any, Any]:
    """``run()`` instrumented, then with ``instrumentor`` off (and re-instrumented after): the
    differential check that instrumentation changes nothing the application sees."""
    with capture() as cap:
        traced = run()
    assert cap.spans(), "the instrumented run should trace something"
    instrumentor.uninstrument()
    try:
        with capture() as bare:
            plain = run()
        assert bare.spans() == []
    finally:
        instrumentor.instrument()
    return traced, plain


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 60,
               args: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (init() touches process-wide globals)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLM_OBSERVATORY_"))}
    full_env.update(env or {})
    cmd = args if args is not None else [sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ROOT)
