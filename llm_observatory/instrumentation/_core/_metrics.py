"""The GenAI metric instruments, created once per meter, with the semconv buckets.

Recording a histogram point costs the OpenTelemetry SDK about 10–20 µs, and an inference records
three or more (a stream, one more per chunk: ``time_per_output_chunk``). So the call path only
appends to a bounded queue, and a background thread records the points (every 200 ms, and on
``force_flush()``/``shutdown()``); a stream's gaps between chunks are worked out there too, from
its chunks' times. Histograms carry no per-point timestamps, so nothing is lost but exemplars;
when the queue is full, points are dropped and counted in ``llm.observatory.dropped``. Counter
adds with the same attributes within one drain are summed and added once: the counter's total is
the same, for one SDK call instead of many.

The same thread ends the spans of streams dropped unclosed (:func:`later`): their ends come from
finalizers, which the garbage collector runs wherever an allocation sets it off, inside whatever
lock that code holds (ours, an exporter's), and an end there that takes the same lock would wait
for itself forever.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise
from typing import Any

from opentelemetry.metrics import Meter

from ... import semconv as sc
from ._guard import logger, report

#: Points waiting to be recorded, at most (per Metrics instance).
MAX_PENDING = 100_000
#: How often the background thread records what is waiting.
DRAIN_INTERVAL_S = 0.2
#: How long the exit hook waits, at most, for the background thread's current round.
EXIT_WAIT_S = 5.0

_instances: weakref.WeakSet[Metrics] = weakref.WeakSet()
_worker: threading.Thread | None = None
#: :func:`flush_all` is registered to run at exit; it has run there.
_exit_hook = _exited = False
_worker_lock = threading.Lock()
#: Held while the background thread records: a ``fork()`` waits for it (see :func:`_before_fork`).
_drain_lock = threading.Lock()


#: Work left for the background thread by :func:`later`.
_later: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()


def later(fn: Callable[..., Any], *args: Any) -> None:
    """Have the background thread call ``fn(*args)`` (soon, or at the next flush): for work that a
    finalizer would otherwise do wherever the garbage collector runs it. Once the exit hook has
    flushed, it is done at once (nothing would do it later); in the interpreter's teardown, not
    at all (no thread runs then, and nothing could be exported)."""
    if sys.is_finalizing():
        return
    if _exited:
        _call(fn, args)
        return
    _later.append((fn, args))
    if _worker is None:
        _start_worker()


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        fn(*args)
    except Exception as exc:
        report("metrics.later", exc)


def flush_all(timeout: float = -1) -> bool:
    """Do the work left for later, then record every queued point, now; ``False`` if the
    background thread's current round did not finish within ``timeout`` seconds (then nothing).
    Only the work queued when it starts: threads that go on queueing more cannot keep it going."""
    if not _drain_lock.acquire(timeout=timeout):
        return False
    try:
        for _ in range(len(_later)):
            _call(*_later.popleft())
        for metrics in list(_instances):
            metrics.flush()
    finally:
        _drain_lock.release()
    return True


def _flush_at_exit() -> None:
    global _exited
    _exited = True
    if not flush_all(timeout=EXIT_WAIT_S):  # a span's end stuck in an exporter of the app's own
        logger.warning("LLM Observatory: the metric points and stream ends still waiting at exit were left "
                       "undone: the background thread was busy for over %.0f s", EXIT_WAIT_S)


def _drain_forever() -> None:
    wake = threading.Event()
    while True:
        wake.wait(DRAIN_INTERVAL_S)
        flush_all()


def _start_worker() -> None:
    global _worker, _exit_hook
    with _worker_lock:
        if not _exit_hook:
            # The points still queued at exit are recorded before the meter provider's own exit
            # hook collects them: hooks run last registered first, and the provider, which the
            # points are recorded into, registered its hook before the first point was queued.
            _exit_hook = True
            atexit.register(_flush_at_exit)
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_drain_forever, name="llm-observatory-metrics", daemon=True)
            _worker.start()


#: Whether :func:`_before_fork` holds :data:`_drain_lock` (it waits at most 5 s for it).
_held_for_fork = False


def _before_fork() -> None:
    """Fork between two recordings, never during one: forked while the background thread holds
    the OpenTelemetry SDK's locks, the child would inherit them held by a thread it does not have."""
    global _held_for_fork
    _held_for_fork = _drain_lock.acquire(timeout=5.0)


def _after_fork_in_parent() -> None:
    global _held_for_fork
    if _held_for_fork:
        _held_for_fork = False
        _drain_lock.release()


def _after_fork() -> None:
    """In the child: no background thread yet (one starts with the first point), and none of the
    parent's waiting points (the parent records them)."""
    global _worker, _drain_lock, _held_for_fork
    _worker = None
    _drain_lock = threading.Lock()
    _held_for_fork = False
    _later.clear()
    for metrics in list(_instances):
        metrics._pending.clear()
        metrics._overflow = 0
        metrics._sums.clear()
        metrics._flush_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork)


class Metrics:
    """Records inference, tool, agent and workflow metrics in the configured naming mode."""

    def __init__(self, meter: Meter, mode: str = "legacy", chunk_metrics: str = "each") -> None:
        self.legacy = mode in ("legacy", "both")
        self.latest = mode in ("latest", "both")
        #: ``time_per_output_chunk``: a point per chunk after the first (else one per stream, the mean)
        self.each_chunk = chunk_metrics != "mean"
        h = meter.create_histogram
        if self.legacy:
            self.duration = h(sc.METRIC_OPERATION_DURATION, unit="s", description="GenAI operation duration",
                              explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS)
            self.tokens = h(sc.METRIC_TOKEN_USAGE, unit="{token}", description="Tokens used by a GenAI operation",
                            explicit_bucket_boundaries_advisory=sc.TOKEN_BUCKETS)
            self.ttfc = h(sc.METRIC_TIME_TO_FIRST_CHUNK, unit="s", description="Time to the first streamed chunk",
                          explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS)
            self.tpoc = h(sc.METRIC_TIME_PER_OUTPUT_CHUNK, unit="s",
                          description="Time between a streamed chunk and the one before it",
                          explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS)
        if self.latest:
            self.inf_duration = h(sc.METRIC_INFERENCE_DURATION, unit="s", description="GenAI inference duration",
                                  explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS)
            self.inf_ttfc = h(sc.METRIC_INFERENCE_TIME_TO_FIRST_CHUNK, unit="s",
                              description="Time to the first streamed chunk",
                              explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS)
            self.inf_tpoc = h(sc.METRIC_INFERENCE_TIME_PER_OUTPUT_CHUNK, unit="s",
                              description="Time between a streamed chunk and the one before it",
                              explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS)
            self.inf_input = meter.create_counter(sc.METRIC_INFERENCE_USAGE_INPUT_TOKENS, unit="{token}",
                                                  description="Input tokens, cached ones included")
            self.inf_output = meter.create_counter(sc.METRIC_INFERENCE_USAGE_OUTPUT_TOKENS, unit="{token}",
                                                   description="Output tokens, reasoning ones included")
        self.cost = meter.create_counter(sc.METRIC_LLM_COST, unit="USD", description="Cost of GenAI calls")
        self.unpriced = meter.create_counter(sc.METRIC_LLM_UNPRICED_CALLS, unit="{call}",
                                             description="GenAI calls whose model has no known price")
        self.tool_duration = h(sc.METRIC_EXECUTE_TOOL_DURATION, unit="s", description="Tool execution duration",
                               explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS)
        self.agent_duration = h(sc.METRIC_INVOKE_AGENT_DURATION, unit="s", description="Agent invocation duration",
                                explicit_bucket_boundaries_advisory=sc.AGENT_DURATION_BUCKETS)
        self.workflow_duration = h(sc.METRIC_INVOKE_WORKFLOW_DURATION, unit="s",
                                   description="Workflow invocation duration",
                                   explicit_bucket_boundaries_advisory=sc.WORKFLOW_DURATION_BUCKETS)
        self.dropped = meter.create_counter(sc.METRIC_LLM_DROPPED, unit="{item}",
                                            description="Telemetry dropped by a full buffer")
        self.tail_sampling = meter.create_counter(sc.METRIC_LLM_TAIL_SAMPLING, unit="{trace}",
                                                  description="Traces kept or dropped by the tail sampler")
        self._pending: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._overflow = 0
        #: Counter adds summed during a flush: ``(counter, attribute items) -> [amount, attributes]``.
        self._sums: dict[tuple[Any, tuple[tuple[str, Any], ...]], list[Any]] = {}
        #: One flush at a time (the drain thread's and a ``force_flush()``), for ``_sums``.
        self._flush_lock = threading.Lock()
        _instances.add(self)

    def defer(self, fn: Callable[..., None], *args: Any) -> None:
        """Queue ``fn(*args)`` (an instrument's record/add) for the background thread."""
        if len(self._pending) >= MAX_PENDING:
            self._overflow += 1
            return
        self._pending.append((fn, args))
        if _worker is None:
            _start_worker()

    def count(self, counter: Any, amount: float, attrs: Mapping[str, Any]) -> None:
        """Queue ``counter.add(amount, attrs)``, to be summed with the other adds of its flush."""
        self.defer(self._add, counter, amount, attrs)

    def _add(self, counter: Any, amount: float, attrs: Mapping[str, Any]) -> None:
        """Within a flush: sum ``amount`` into the counter's add for these attributes."""
        key = (counter, tuple(attrs.items()))
        try:
            entry = self._sums.get(key)
        except TypeError:  # an unhashable attribute value: added on its own
            counter.add(amount, attrs)
            return
        if entry is None:
            self._sums[key] = [amount, attrs]
        else:
            entry[0] += amount

    def flush(self) -> None:
        """Record every queued point now (the counter adds summed by counter and attributes):
        those queued when it starts, so threads that go on queueing more cannot keep it going."""
        with self._flush_lock:
            pending = self._pending
            for _ in range(len(pending)):
                try:
                    fn, args = pending.popleft()
                except IndexError:
                    break
                try:
                    fn(*args)
                except Exception as exc:
                    report("metrics.record", exc)
            sums = self._sums
            for (counter, _), (amount, attrs) in sums.items():
                try:
                    counter.add(amount, attrs)
                except Exception as exc:
                    report("metrics.record", exc)
            sums.clear()
        if self._overflow:
            overflow, self._overflow = self._overflow, 0
            self.dropped.add(overflow, {sc.LLM_DROP_REASON: "metrics_queue_full"})

    def record_duration(self, operation: str, name: str, duration_s: float, error_type: str | None) -> None:
        """Queue the duration of a tool (``execute_tool``), agent (``invoke_agent``) or workflow."""
        if operation == sc.Operation.EXECUTE_TOOL:
            attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: operation, sc.GEN_AI_TOOL_NAME: name,
                                     sc.GEN_AI_TOOL_TYPE: "function"}
            histogram = self.tool_duration
        elif operation == sc.Operation.INVOKE_AGENT:
            attrs = {sc.GEN_AI_OPERATION_NAME: operation, sc.GEN_AI_AGENT_NAME: name}
            histogram = self.agent_duration
        else:
            attrs = {sc.GEN_AI_OPERATION_NAME: sc.Operation.INVOKE_WORKFLOW, sc.GEN_AI_WORKFLOW_NAME: name}
            histogram = self.workflow_duration
        if error_type is not None:
            attrs[sc.ERROR_TYPE] = error_type
        self.defer(histogram.record, duration_s, attrs)

    def record_inference(self, *args: Any) -> None:
        """Queue one inference's points; see :meth:`record_inference_now` for the arguments."""
        self.defer(self.record_inference_now, *args)

    def record_inference_now(
        self,
        attrs: Mapping[str, Any],
        duration_s: float,
        input_tokens: int | None,
        output_tokens: int | None,
        ttfc_s: float | None,
        chunk_ns: Sequence[int] | None,
        cost_usd: float | None,
        failed: bool,
    ) -> None:
        """Record one inference call (within a flush: its counter adds are summed there). ``attrs``
        are the common metric attributes (with error.type); ``chunk_ns``, a stream's
        ``perf_counter_ns()`` at each chunk: one ``time_per_output_chunk`` point per chunk after
        the first, the time since the one before it (or, with ``chunk_metrics="mean"``, one point:
        their mean)."""
        gaps: Sequence[float] = ()
        if chunk_ns and len(chunk_ns) > 1:
            gaps = [(b - a) / 1e9 for a, b in pairwise(chunk_ns)] if self.each_chunk else \
                [(chunk_ns[-1] - chunk_ns[0]) / 1e9 / (len(chunk_ns) - 1)]
        if self.legacy:
            self.duration.record(duration_s, attrs)
            if input_tokens is not None:
                self.tokens.record(input_tokens, {**attrs, sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_INPUT})
            if output_tokens is not None:
                self.tokens.record(output_tokens, {**attrs, sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT})
            if ttfc_s is not None:
                self.ttfc.record(ttfc_s, attrs)
            for gap in gaps:
                self.tpoc.record(gap, attrs)
        if self.latest:
            self.inf_duration.record(duration_s, attrs)
            modality = sc.TOKEN_MODALITY_UNKNOWN if input_tokens is None else sc.TOKEN_MODALITY_TEXT
            counted = {k: v for k, v in attrs.items() if k != sc.ERROR_TYPE}
            counted[sc.GEN_AI_TOKEN_MODALITY] = modality
            self._add(self.inf_input, input_tokens or 0, counted)
            self._add(self.inf_output, output_tokens or 0, counted)
            if ttfc_s is not None:
                self.inf_ttfc.record(ttfc_s, attrs)
            for gap in gaps:
                self.inf_tpoc.record(gap, attrs)
        if cost_usd is not None:
            self._add(self.cost, cost_usd, {k: v for k, v in attrs.items() if k != sc.ERROR_TYPE})
