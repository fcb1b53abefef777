"""Interleaved, repeated timing with medians, as docs/performance.md describes."""

from __future__ import annotations

import gc
import random
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import set_meter_provider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class NoopSpanExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class NoopMetricExporter(MetricExporter):
    def __init__(self) -> None:
        super().__init__()

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def noop_meter_provider() -> MeterProvider:
    reader = PeriodicExportingMetricReader(NoopMetricExporter(), export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader])
    set_meter_provider(provider)
    return provider


def wait_for_warm_up() -> None:
    """Let ``init()``'s background loads (price data, token encodings) finish before anything is
    measured: they would otherwise run during the first batches."""
    for thread in threading.enumerate():
        if thread.name in ("llm-observatory-prices", "llm-observatory-tiktoken"):
            thread.join()


def settle() -> None:
    """Let background export work finish between batches, so one case's leftovers (a batch
    processor draining its queue) are not timed in the next case. Not timed itself."""
    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush()


def median_interval(values: Sequence[float], *, resamples: int = 2000, seed: int = 1) -> tuple[float, float]:
    """A 95% bootstrap interval for the median of ``values`` (a fixed seed: the same values give the
    same interval)."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def measure_toggled(cases: dict[str, Callable[[], Any]], on: Callable[[], None], off: Callable[[], None], *,
                    calls: int, rounds: int, after_round: Callable[[str], None] | None = None,
                    differences: dict[str, list[float]] | None = None,
                    ) -> tuple[dict[str, float], dict[str, float]]:
    """Like :func:`measure`, with each round run once uninstrumented and once instrumented.
    ``differences``, when given, receives each case's per-round differences (instrumented minus not)."""
    plain: dict[str, list[float]] = {name: [] for name in cases}
    traced: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm-up, both ways
        for _ in range(min(calls, 50)):
            fn()
        on()
        for _ in range(min(calls, 50)):
            fn()
        off()
    for r in range(rounds):
        # ABBA order: whichever batch runs second in a round is often a few per cent slower (the
        # heap the first one left), a bias as large as the overhead being measured on a stream.
        order = ((False, plain), (True, traced)) if r % 2 == 0 else ((True, traced), (False, plain))
        for name, fn in cases.items():
            for instrumented, samples in order:
                if instrumented:
                    on()
                gc.collect()
                gc.disable()
                t0 = time.perf_counter()
                for _ in range(calls):
                    fn()
                samples[name].append((time.perf_counter() - t0) / calls)
                gc.enable()
                settle()
                if instrumented:
                    off()
                    if after_round is not None:
                        after_round(name)
    # The overhead is the median of the per-round differences (paired samples): the machine's
    # speed drifts over seconds, and a difference within one round is blind to that drift.
    paired = {n: [t - p for t, p in zip(traced[n], plain[n], strict=True)] for n in cases}
    if differences is not None:
        differences.update(paired)
    base = {n: statistics.median(v) for n, v in plain.items()}
    return base, {n: base[n] + statistics.median(paired[n]) for n in cases}


def measure_configs(configs: dict[str, tuple[Callable[[], Any], Callable[[], None], Callable[[], None]]], *,
                    calls: int, rounds: int, seed: int = 7, baseline: str | None = None,
                    after_round: Callable[[str], None] | None = None,
                    differences: dict[str, list[float]] | None = None) -> dict[str, float]:
    """Median seconds per call of each ``(fn, set_up, tear_down)`` configuration, all in one loop.

    The configurations run round-robin, in a new random order each round (fixed seed): on these
    machines the batch that runs just before another shifts its time by up to ~20%, and a
    shuffled order spreads that evenly instead of charging it to one configuration. With
    ``baseline``, every other configuration is that one's median plus the median of its
    per-round differences from it (paired samples, blind to the machine's drift), which
    ``differences``, when given, receives. ``after_round`` runs after each batch (untimed), with
    the configuration's name.
    """
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {name: [] for name in configs}
    names = list(configs)
    for name in names:  # warm-up
        fn, up, down = configs[name]
        up()
        for _ in range(min(calls, 50)):
            fn()
        down()
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            fn, up, down = configs[name]
            up()
            gc.collect()
            gc.disable()
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter() - t0) / calls)
            gc.enable()
            settle()
            down()
            if after_round is not None:
                after_round(name)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    if baseline is not None:
        base = samples[baseline]
        paired = {name: [v - b for v, b in zip(values, base, strict=True)]
                  for name, values in samples.items() if name != baseline}
        if differences is not None:
            differences.update(paired)
        medians.update({name: medians[baseline] + statistics.median(d) for name, d in paired.items()})
    return medians


def measure(cases: dict[str, Callable[[], Any]], *, calls: int, rounds: int,
            after_round: Callable[[str], None] | None = None) -> dict[str, float]:
    """Median seconds per call of each case, over ``rounds`` interleaved batches of ``calls``."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm-up
        for _ in range(min(calls, 200)):
            fn()
    for _ in range(rounds):
        for name, fn in cases.items():
            gc.collect()
            gc.disable()
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter() - t0) / calls)
            gc.enable()
            settle()
            if after_round is not None:
                after_round(name)
    return {name: statistics.median(values) for name, values in samples.items()}
