"""Ours against the other OpenTelemetry instrumentations of the same SDK calls, in one process.

Each peer is the instrumentor a user of that project would install, with its content capture
off (as ours is): the OpenTelemetry contrib's ``openai-v2``, OpenLLMetry's (Traceloop),
OpenInference's (Arize) and OpenLIT's. Peers that are not installed are left out; ``nox -s
bench-peers`` installs them. Every instrumentation exports through the same provider as the
floor (a batch processor into a no-op exporter) and records its metrics into the same meter
provider.

The workloads are the timed bench's: the real SDKs over mock transports, a call and a 50-chunk
stream, with the stream's usage asked for. In each round every configuration runs once, in a
new random order (see :func:`~tests.benchmarks._harness.measure_configs`), and its overhead is
the median of its per-round differences from the uninstrumented calls. The peers record their
metrics on the call path; ours queues the points for a background thread, so ours is shown twice:
the call path alone, and with the queued points recorded after each call (``+ metrics``).

    python -m tests.benchmarks.peers [--quick] [--json PATH]      (nox -s bench-peers)
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any

# Content capture off, each peer's own way, before any of them is imported (the contrib's is off
# unless OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT says otherwise).
os.environ.setdefault("TRACELOOP_TRACE_CONTENT", "false")  # OpenLLMetry
os.environ.setdefault("OPENINFERENCE_HIDE_INPUTS", "true")  # OpenInference
os.environ.setdefault("OPENINFERENCE_HIDE_OUTPUTS", "true")

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

import llm_observatory as observatory
from llm_observatory.instrumentation._core import _telemetry
from tests._sdk_state import Attributes, restore, sdk_attributes

from ._harness import (
    NoopSpanExporter,
    measure,
    measure_configs,
    median_interval,
    noop_meter_provider,
    wait_for_warm_up,
)
from ._workloads import anthropic_workload, bare_span, openai_workload

#: ``(label, module, instrumentor class)`` of each peer, by SDK.
PEERS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "openai": (
        ("OTel contrib openai-v2", "opentelemetry.instrumentation.openai_v2", "OpenAIInstrumentor"),
        ("OpenLLMetry", "opentelemetry.instrumentation.openai", "OpenAIInstrumentor"),
        ("OpenInference", "openinference.instrumentation.openai", "OpenAIInstrumentor"),
        ("OpenLIT", "openlit.instrumentation.openai", "OpenAIInstrumentor"),
    ),
    "anthropic": (
        ("OpenLLMetry", "opentelemetry.instrumentation.anthropic", "AnthropicInstrumentor"),
        ("OpenInference", "openinference.instrumentation.anthropic", "AnthropicInstrumentor"),
        ("OpenLIT", "openlit.instrumentation.anthropic", "AnthropicInstrumentor"),
    ),
}

ROWS: list[dict[str, Any]] = []


class SpanCounter(SpanProcessor):
    """Counts ended spans, for the spans a configuration makes per call."""

    def __init__(self) -> None:
        self.ended = 0

    def on_end(self, span: ReadableSpan) -> None:
        self.ended += 1


def _nothing() -> None:
    pass


def _installed(sdk: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """The peers of ``sdk`` that import here, as ``(label, instrumentor, its instrument() arguments)``,
    each left uninstrumented."""
    found = []
    for label, module, name in PEERS[sdk]:
        try:
            instrumentor = getattr(importlib.import_module(module), name)()
            kwargs = _set_up_openlit() if label == "OpenLIT" else {}
        except Exception:  # not installed, or not for this SDK release
            continue
        found.append((label, instrumentor, kwargs))
    return found


#: OpenLIT's price list format, for the bench's models (its ``init()`` would download its own).
OPENLIT_PRICES = {"chat": {"gpt-4o-mini": {"promptPrice": 0.00015, "completionPrice": 0.0006},
                           "claude-sonnet-4-20250514": {"promptPrice": 0.003, "completionPrice": 0.015}}}


@functools.cache
def _set_up_openlit() -> dict[str, Any]:
    """``openlit.init()`` as a user would call it (content off, the global providers reused, no
    events), instrumenting nothing; returns the arguments its ``init()`` gives an instrumentor."""
    import tempfile

    import openlit
    from openlit._instrumentors import get_all_instrumentors

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as prices:
        json.dump(OPENLIT_PRICES, prices)
    openlit.init(application_name="bench", capture_message_content=False, disable_events=True,
                 pricing_json=prices.name, disabled_instrumentors=list(get_all_instrumentors()))
    os.unlink(prices.name)
    config = openlit.OpenlitConfig
    if config.disable_metrics:
        raise RuntimeError("OpenLIT's metrics are off: it would not be doing all its work")
    return {"environment": config.environment, "application_name": config.application_name,
            "pricing_info": config.pricing_info, "capture_message_content": False,
            "disable_metrics": config.disable_metrics, "disable_events": True, "capture_db_parameters": False}


def _toggle(instrumentor: Any, sdk: str, before: Attributes, **kwargs: Any,
            ) -> tuple[Callable[[], None], Callable[[], None]]:
    """Switch a peer on and off. Not every peer's ``uninstrument()`` removes its wrappers (with
    openai: OpenLLMetry's leaves 16, which it names in a form its ``unwrap`` helper does not take,
    OpenInference's 2, OpenLIT's all; with anthropic, OpenLIT's), so off also puts back every SDK
    attribute that changed."""

    def off() -> None:
        instrumentor.uninstrument()
        restore(sdk, before)

    return lambda: instrumentor.instrument(**kwargs), off


def _per_call(counter: SpanCounter, fn: Callable[[], Any], on: Callable[[], None], off: Callable[[], None],
              ) -> tuple[float, float]:
    """The spans and the metric points (measurements the meter provider is given) one call makes."""
    from opentelemetry.sdk.metrics._internal.measurement_consumer import SynchronousMeasurementConsumer

    points = 0
    consume = SynchronousMeasurementConsumer.consume_measurement

    def counting(self: Any, measurement: Any) -> None:
        nonlocal points
        points += 1
        consume(self, measurement)

    on()
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    _telemetry.current().metrics.flush()
    before = counter.ended
    SynchronousMeasurementConsumer.consume_measurement = counting  # type: ignore[method-assign]
    try:
        for _ in range(4):
            fn()
        _telemetry.current().metrics.flush()  # ours: the queued points
    finally:
        SynchronousMeasurementConsumer.consume_measurement = consume  # type: ignore[method-assign]
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    off()
    return (counter.ended - before) / 4, points / 4


def compare(sdk: str, case: str, configs: dict[str, tuple[Callable[[], Any], Callable[[], None], Callable[[], None]]],
            floor: float, calls: int, rounds: int, counter: SpanCounter) -> None:
    """Time ``configs`` (``none`` the uninstrumented baseline) and add a row for each."""
    metrics = _telemetry.current().metrics
    made = {name: _per_call(counter, fn, up, down) for name, (fn, up, down) in configs.items()}
    diffs: dict[str, list[float]] = {}
    medians = measure_configs(configs, calls=calls, rounds=rounds, baseline="none", differences=diffs,
                              after_round=lambda name: metrics.flush())
    ours = medians["ours"] - medians["none"]
    ours_all = medians["ours + metrics"] - medians["none"]
    for name in configs:
        if name == "none":
            continue
        overhead = medians[name] - medians["none"]
        low, high = median_interval(diffs[name])
        ROWS.append({"sdk": sdk, "case": case, "instrumentation": name, "baseline_us": medians["none"] * 1e6,
                     "overhead_us": overhead * 1e6, "interval_us": [low * 1e6, high * 1e6],
                     "floors": overhead / floor, "of_baseline": overhead / medians["none"],
                     "against_ours": overhead / ours if ours > 0 else None,
                     "against_ours_all": overhead / ours_all if ours_all > 0 else None,
                     "spans_per_call": made[name][0], "metric_points_per_call": made[name][1]})


def bench_sdk(sdk: str, cases: dict[str, Callable[[], Any]], ours: Any, peers: list[tuple[str, Any, dict[str, Any]]],
              floor: float, calls: int, rounds: int, counter: SpanCounter,
              ours_cases: dict[str, Callable[[], Any]] | None = None) -> None:
    for fn in (*cases.values(), *(ours_cases or {}).values()):
        fn()  # the SDK imports its resource modules on first use: they must be in the snapshot
    before = sdk_attributes(sdk)  # ours and every peer are uninstrumented here

    metrics = _telemetry.current().metrics
    for key, case, n in (("call", "call", max(calls // 40, 20)), ("stream", "50-chunk stream", max(calls // 200, 5))):
        fn = cases[key]
        our_fn = (ours_cases or cases)[key]

        def with_metrics(our_fn: Callable[[], Any] = our_fn) -> None:
            our_fn()
            metrics.flush()

        configs: dict[str, tuple[Callable[[], Any], Callable[[], None], Callable[[], None]]] = {
            "none": (fn, _nothing, _nothing),
            "ours": (our_fn, ours.instrument, ours.uninstrument),
            "ours + metrics": (with_metrics, ours.instrument, ours.uninstrument),
        }
        for label, instrumentor, kwargs in peers:
            on, off = _toggle(instrumentor, sdk, before, **kwargs)
            configs[label] = (fn, on, off)
        compare(sdk, case, configs, floor, n, rounds, counter)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="few rounds (a smoke run)")
    parser.add_argument("--json", default="bench-results/peers.json")
    args = parser.parse_args()
    calls, rounds = (200, 6) if args.quick else (2000, 96)

    counter = SpanCounter()
    observatory.init(exporter=NoopSpanExporter(), metrics=True, meter_provider=noop_meter_provider(),
                     service_name="bench")
    trace.get_tracer_provider().add_span_processor(counter)  # type: ignore[attr-defined]
    wait_for_warm_up()
    timings = measure({"noop": _nothing, "floor": bare_span}, calls=calls, rounds=max(rounds // 4, 5))
    floor = timings["floor"] - timings["noop"]

    openai_cases = openai_workload()
    if openai_cases is not None:
        from llm_observatory.instrumentation.openai import OpenAIInstrumentor

        ours = OpenAIInstrumentor()
        ours.uninstrument()  # init() instrumented it
        bench_sdk("openai", openai_cases, ours, _installed("openai"), floor, calls, rounds, counter)
    anthropic = anthropic_workload()
    if anthropic is not None:
        from llm_observatory.instrumentation.anthropic import AnthropicInstrumentor

        cases, has_native = anthropic
        ours = AnthropicInstrumentor()
        ours.uninstrument()
        # the peers on a client with the SDK's own tracing off (else it would add its span to theirs);
        # ours on one with it configured, which ours takes the place of
        bench_sdk("anthropic", cases(False), ours, _installed("anthropic"), floor, calls, rounds, counter,
                  ours_cases=cases(True) if has_native else None)
    observatory.shutdown()

    versions = _versions()
    print(f"\nLLM Observatory against its peers — {platform.node()} ({os.cpu_count()} cores), Python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}; medians of {rounds} shuffled rounds; "
          f"floor (a bare span) {floor * 1e6:.1f} µs\n{versions}\n")
    print(f"{'sdk':<10} {'case':<16} {'instrumentation':<24} {'baseline µs':>11} {'overhead µs':>11} "
          f"{'95%':>11} {'floors':>6} {'of base':>7} {'x ours':>6} {'x all':>6} {'spans':>5} {'points':>6}")
    for r in ROWS:
        against = "" if r["against_ours"] is None else f"{r['against_ours']:.2f}"
        against_all = "" if r["against_ours_all"] is None else f"{r['against_ours_all']:.2f}"
        spread = "{:.0f}–{:.0f}".format(*r["interval_us"])
        print(f"{r['sdk']:<10} {r['case']:<16} {r['instrumentation']:<24} {r['baseline_us']:>11.1f} "
              f"{r['overhead_us']:>11.1f} {spread:>11} {r['floors']:>6.2f} {r['of_baseline']:>7.1%} "
              f"{against:>6} {against_all:>6} {r['spans_per_call']:>5.1f} {r['metric_points_per_call']:>6.1f}")
    print("\noverhead = instrumented minus uninstrumented (median of paired per-round differences); 95% = its "
          "bootstrap\ninterval; floors = overhead / one bare span; x ours = overhead / ours (call path); x all = "
          "overhead /\nours + metrics; spans and points = spans and metric points a call makes")
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"machine": platform.node(), "python": platform.python_version(), "date": time.strftime("%Y-%m-%d"),
                   "floor_us": floor * 1e6, "rounds": rounds, "versions": versions, "rows": ROWS}, f, indent=2)


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    names = ("openai", "anthropic", "opentelemetry-sdk", "opentelemetry-instrumentation-openai-v2",
             "opentelemetry-instrumentation-openai", "opentelemetry-instrumentation-anthropic",
             "openinference-instrumentation-openai", "openinference-instrumentation-anthropic", "openlit")
    found = []
    for name in names:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return "; ".join(found)


if __name__ == "__main__":
    main()
