"""Machine instructions per call, counted by valgrind's callgrind: the bench's rows, repeatable.

Timed overheads on shared machines move by more than the targets between runs (see
docs/performance.md); instruction counts do not. This runs the workloads of the timed bench in
one process under callgrind, and counts each configuration's calls apart: a section starts with
``os.getppid()`` (callgrind zeroes its counters there, ``--zero-before``) and ends with
``os.getpgrp()`` (it writes them out, ``--dump-before``). Only the calling thread is counted
(``--separate-threads``): callgrind zeroes only the thread that enters ``getppid``, so another
thread's work (``init()``'s price data load) would land in whichever section comes next; the
batch span processor's thread does the same work for a bare span as for ours. Configurations
per workload:

- ``none``: uninstrumented; ``span``: inside a bare span (12 attributes), or, for LlamaIndex, with
  bare-span handlers making the same spans as ours;
- ``ours``: instrumented, the metric points left queued (the drain thread records them later,
  off the call path); ``ours+metrics``: the same with the points recorded after each call.

``floors`` = (configuration − ``none``) / one bare span in a tight loop, per span created.

    python -m tests.benchmarks.instructions [--json PATH]      (nox -s bench-instructions)
"""

from __future__ import annotations

import argparse
import gc
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

#: Calls a section makes, by workload (instruction counts need few: they vary little).
CALLS = {"floor": 200, "call": 20, "stream": 5, "query": 10}


def _sections(out: str) -> None:
    """The child, under callgrind: run every section, and write their names and call counts in order."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's BLAS threads spin, slowly under valgrind
    import llm_observatory as observatory
    from llm_observatory.instrumentation._core import _metrics, _telemetry

    from ._harness import NoopSpanExporter, noop_meter_provider, wait_for_warm_up
    from ._workloads import (
        anthropic_workload,
        bare_llamaindex_bridge,
        bare_span,
        in_bare_span,
        llamaindex_query,
        openai_workload,
        spans_per_call,
    )

    _metrics.DRAIN_INTERVAL_S = 3600.0  # the drain thread records only when told (ours+metrics)
    observatory.init(exporter=NoopSpanExporter(), metrics=True, meter_provider=noop_meter_provider(),
                     service_name="bench", instrument=[])
    wait_for_warm_up()
    metrics = _telemetry.current().metrics
    done: list[dict[str, Any]] = []

    def section(name: str, fn: Callable[[], Any], calls: int, spans: int = 1) -> None:
        for _ in range(5):  # warm: first calls fill caches and specialise the interpreter
            fn()
        metrics.flush()
        gc.collect()
        gc.disable()
        os.getppid()
        for _ in range(calls):
            fn()
        os.getpgrp()
        gc.enable()
        done.append({"name": name, "calls": calls, "spans": spans})

    def with_metrics(fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            fn()
            metrics.flush()
        return run

    def workload(prefix: str, inst: Any, plain: Callable[[], Any], traced: Callable[[], Any], calls: int,
                 spans: int = 1, bare: tuple[Callable[[], None], Callable[[], None]] | None = None) -> None:
        assert not inst.is_instrumented_by_opentelemetry, prefix
        section(f"{prefix} none", plain, calls, spans)
        if bare is None:
            section(f"{prefix} span", in_bare_span(plain), calls, spans)
        else:
            bare[0]()
            section(f"{prefix} span", plain, calls, spans)
            bare[1]()
        inst.instrument()
        section(f"{prefix} ours", traced, calls, spans)
        section(f"{prefix} ours+metrics", with_metrics(traced), calls, spans)
        inst.uninstrument()

    section("floor", bare_span, CALLS["floor"])
    cases = openai_workload()
    if cases is not None:
        from llm_observatory.instrumentation.openai import OpenAIInstrumentor

        for kind in ("call", "stream"):
            workload(f"openai {kind}", OpenAIInstrumentor(), cases[kind], cases[kind], CALLS[kind])
    anthropic = anthropic_workload()
    if anthropic is not None:
        from llm_observatory.instrumentation.anthropic import AnthropicInstrumentor

        make, has_native = anthropic
        plain, native = make(False), make(True)
        for kind in ("call", "stream"):
            # ours on a client with the SDK's own tracing configured, as in the timed bench
            workload(f"anthropic {kind}", AnthropicInstrumentor(), plain[kind],
                     native[kind] if has_native else plain[kind], CALLS[kind])
    query = llamaindex_query()
    if query is not None:
        from llm_observatory.instrumentation.llamaindex import LlamaIndexInstrumentor
        inst = LlamaIndexInstrumentor()
        workload("llamaindex query", inst, query, query, CALLS["query"], spans_per_call(inst, query),
                 bare=bare_llamaindex_bridge())
    with open(out, "w") as fh:
        json.dump(done, fh)


def _dumped_instructions(path: str) -> int:
    """The ``summary:`` line of one callgrind dump: instructions executed (``Ir``)."""
    with open(path) as fh:
        for line in fh:
            if line.startswith("summary:"):
                return int(line.split()[1])
    raise ValueError(f"{path}: no summary line")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default="bench-results/instructions.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _sections(args.child)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind); nothing was counted")
    with tempfile.TemporaryDirectory() as tmp:
        names = os.path.join(tmp, "sections.json")
        t0 = time.perf_counter()
        subprocess.run(["valgrind", "--tool=callgrind", "--separate-threads=yes", "--zero-before=getppid",
                        "--dump-before=getpgrp",
                        f"--callgrind-out-file={tmp}/cg.out", sys.executable, "-m", "tests.benchmarks.instructions",
                        "--child", names], check=True, stderr=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONHASHSEED": "0"})
        # the calling thread's dumps, cg.out.<n>-01, in order
        dumps = sorted(glob.glob(f"{tmp}/cg.out.*-01"), key=lambda p: int(re.sub(r".*\.(\d+)-01$", r"\1", p)))
        with open(names) as fh:
            sections = json.load(fh)
        if len(dumps) != len(sections):
            sys.exit(f"{len(dumps)} callgrind dumps for {len(sections)} sections")
        counts = {s["name"]: (s, _dumped_instructions(d) / s["calls"]) for s, d in zip(sections, dumps, strict=True)}
        minutes = (time.perf_counter() - t0) / 60
    floor = counts["floor"][1]
    rows = [{"case": "floor: one bare span (12 attributes)", "instructions": floor, "overhead": floor, "floors": 1.0}]
    for name, (s, n) in counts.items():
        if name == "floor":
            continue
        base = counts[name.rsplit(" ", 1)[0] + " none"][1]  # (the none rows show 0)
        rows.append({"case": name, "instructions": n, "overhead": n - base,
                     "floors": (n - base) / s["spans"] / floor, "spans": s["spans"]})
    print(f"\nInstructions per call (callgrind, the calling thread; {minutes:.0f} min under valgrind)\n")
    print(f"{'case':<36} {'instructions':>14} {'overhead':>12} {'floors':>7}")
    for r in rows:
        print(f"{r['case']:<36} {r['instructions']:>14,.0f} {r['overhead']:>12,.0f} {r['floors']:>7.2f}")
    print("\nfloors = (case - none) / one bare span, per span created (LlamaIndex: "
          f"{counts.get('llamaindex query none', ({'spans': 0}, 0))[0]['spans']} spans a query; its "
          "'span' is bare-span handlers making the same spans); ours leaves its metric points queued, "
          "ours+metrics records them.")
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump({"date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0], "rows": rows}, fh, indent=2)
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
