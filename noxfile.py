"""Sessions: tests (the README's test command), compat, oldest-python, newest-python, lint, typecheck, bench,
bench-instructions, bench-peers and demo."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "compat", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
#: Every integration and the collector: the tests exercise them all.
EXTRAS = "openai,anthropic,langchain,llamaindex,collector"


#: pytest on up to four worker processes (pytest-xdist), one per core: the suite's tests are
#: independent (each collector, server and database schema is its own). ``-n 0`` after ``--`` runs it in one.
PYTEST = ("pytest", "-n", "auto", "--maxprocesses", "4")

#: The oldest core dependencies we declare (OpenTelemetry 1.39, whose opentelemetry-instrumentation
#: holds wrapt below 2), tested on the oldest Python we support.
OLDEST_CORE = ["opentelemetry-api==1.39.0", "opentelemetry-sdk==1.39.0", "opentelemetry-exporter-otlp==1.39.0",
               "opentelemetry-instrumentation==0.60b0", "opentelemetry-exporter-prometheus==0.60b0", "wrapt==1.16.0",
               "tiktoken==0.7.0"]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite."""
    session.install("-e", f".[{EXTRAS}]", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run(*PYTEST, *session.posargs)


@nox.session(python="3.10", name="oldest-python")
def oldest_python(session: nox.Session) -> None:
    """The whole test suite on the oldest Python we support, with the oldest core dependencies
    (genai-prices, the default price data, needs 3.11: there only overrides price calls, and the
    tests give their models overrides)."""
    session.install("-e", f".[{EXTRAS}]", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.install(*OLDEST_CORE)
    session.run(*PYTEST, *session.posargs)


@nox.session(python="3.13", name="newest-python")
def newest_python(session: nox.Session) -> None:
    """The whole test suite on the newest Python that every integration we test installs on."""
    session.install("-e", f".[{EXTRAS}]", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run(*PYTEST, *session.posargs)


#: The oldest release of each integration that we support, and its tests; `tests` covers the newest,
#: except for openai: LlamaIndex's OpenAI integration holds the whole suite below openai 3, so the
#: newest openai gets a session of its own. The LangChain integrations and LangGraph resolve to
#: releases that work with that langchain-core.
RELEASES = {
    "openai": (["openai==1.92.0"], "tests/openai"),
    "openai-newest": (["openai>=3"], "tests/openai"),
    "anthropic": (["anthropic==0.40.0"], "tests/anthropic"),
    "langchain": (["langchain-core==0.3.0", "langchain-openai", "langchain-anthropic", "langgraph"], "tests/langchain"),
    "llamaindex": (["llama-index-core==0.12.0", "llama-index-llms-openai", "llama-index-embeddings-openai"],
                   "tests/llamaindex"),
}


@nox.session
@nox.parametrize("package", list(RELEASES))
def compat(session: nox.Session, package: str) -> None:
    """An integration's tests against its oldest supported release (and the newest openai)."""
    pins, tests_dir = RELEASES[package]
    session.install("-e", f".[{EXTRAS}]", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.install(*pins)
    session.run(*PYTEST, tests_dir, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", "llm_observatory", "tests", "examples", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", f".[{EXTRAS}]", *nox.project.dependency_groups(PYPROJECT, "typecheck"))
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: overhead as ratios to the uninstrumented call and to one bare span."""
    # the test group too: the workloads reuse the suite's fakes and fixtures (which import pytest)
    session.install("-e", f".[{EXTRAS}]", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("python", "-m", "tests.benchmarks", *session.posargs)


@nox.session(name="bench-instructions")
def bench_instructions(session: nox.Session) -> None:
    """The bench's rows as machine instructions per call (valgrind's callgrind): repeatable figures."""
    session.install("-e", f".[{EXTRAS}]", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("python", "-m", "tests.benchmarks.instructions", *session.posargs)


#: The other instrumentations ``bench-peers`` times against ours, in two groups: OpenLIT holds
#: anthropic below 1. The contrib's openai-v2 2.4b0 imports httpx, which openai 3 no longer uses,
#: and util-genai's module that 1.2 renamed.
PEERS = {
    "otel": ["openai<3", "opentelemetry-instrumentation-openai-v2>=2.4b0", "opentelemetry-util-genai>=1.0b0,<1.2",
             "opentelemetry-instrumentation-openai", "opentelemetry-instrumentation-anthropic",
             "openinference-instrumentation-openai", "openinference-instrumentation-anthropic"],
    "openlit": ["openlit"],
}


@nox.session(name="bench-peers")
@nox.parametrize("group", list(PEERS))
def bench_peers(session: nox.Session, group: str) -> None:
    """Ours against the other instrumentations of the same calls, in one process (docs/performance.md)."""
    session.install("-e", ".[openai,anthropic]", *PEERS[group])
    session.run("python", "-m", "tests.benchmarks.peers", "--json", f"bench-results/peers-{group}.json",
                *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: an instrumented example app, offline, printing its traces, tokens and cost."""
    session.install("-e", ".[openai,collector]")
    session.run("python", "examples/demo.py", *session.posargs)
