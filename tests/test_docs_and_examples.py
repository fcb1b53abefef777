"""The docs describe every option, and every example runs offline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llm_observatory._config import Options
from tests.conftest import ROOT, run_python

EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))


def test_configuration_page_lists_every_option_and_variable() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    for name, env, _default, _doc in Options.describe():
        assert f"| `{name}` |" in page, name
        for var in env:
            assert f"`{var}`" in page, var


def test_docs_index_links_every_page() -> None:
    index = (ROOT / "docs" / "index.md").read_text()
    for page in (ROOT / "docs").glob("*.md"):
        if page.name != "index.md":
            assert f"({page.name})" in index, page.name


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_offline(example: Path, tmp_path: Path) -> None:
    # No collector anywhere: an unroutable endpoint, and the exporters must not hang the exit.
    proc = run_python("", args=[sys.executable, str(example)], env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "LLM_OBSERVATORY_EXPORT_TIMEOUT": "2",
        "LLM_OBSERVATORY_DEMO_STORE": str(tmp_path / "demo.duckdb"),
    }, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip(), "an example should print what it did"
    assert "Traceback" not in proc.stderr, proc.stderr
    if example.name == "demo.py":  # the main job: traces stored in the embedded store, and reported
        assert "From the store" in proc.stdout and "gpt-4o-mini-2024-07-18" in proc.stdout.split("From the store")[1]
