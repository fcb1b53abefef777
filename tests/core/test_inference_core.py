"""The shared instrumentation core, exercised through a toy provider SDK (see toy.py)."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from llm_observatory.instrumentation._core import _guard, _stream
from llm_observatory.testing import Capture, capture

from . import toy

pytestmark = pytest.mark.usefixtures("toy_instrumented")


def test_non_streaming_call_snapshot(cap: Capture) -> None:
    result = toy.Client().create(model="toy-1", prompt="hi", temperature=0.5)
    assert result.text == "echo hi"
    assert cap.snapshot() == [{
        "name": "chat toy-1", "kind": "CLIENT", "trace_id": 1, "span_id": 1, "parent_id": None,
        "start": 0, "end": 1, "status": "UNSET",
        "attributes": {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "toy", "gen_ai.request.model": "toy-1",
            "server.address": "toy.local", "server.port": 8443, "gen_ai.request.temperature": 0.5,
            "gen_ai.response.model": "toy-1-2024", "gen_ai.response.id": "r-1",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 2,
            "llm.cost.priced": False,  # the toy model has no price
        },
    }]


def test_metrics_for_a_call(cap: Capture) -> None:
    toy.Client().create(model="toy-1", prompt="hi")
    m = cap.metrics()
    common = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "toy", "gen_ai.request.model": "toy-1",
              "gen_ai.response.model": "toy-1-2024", "server.address": "toy.local", "server.port": 8443}
    assert [p["attributes"] for p in m["gen_ai.client.operation.duration"]] == [common]
    tokens = {p["attributes"]["gen_ai.token.type"]: p["sum"] for p in m["gen_ai.client.token.usage"]}
    assert tokens == {"input": 7, "output": 2}
    assert "gen_ai.client.operation.time_to_first_chunk" not in m


@pytest.mark.parametrize("odd", ["7", -1, 2**70, 1.5, float("nan"), [7], {"n": 7}, True],
                         ids=["str", "negative", "past-int64", "fraction", "nan", "list", "dict", "bool"])
def test_an_odd_token_count_is_left_out_and_the_rest_of_the_span_kept(cap: Capture, odd: Any) -> None:
    result = toy.Client(usage=(odd, 2)).create(model="toy-1", prompt="a")
    assert result.usage == (odd, 2)  # (the application's value, untouched)
    (span,) = cap.spans()
    a = dict(span.attributes or {})
    assert "gen_ai.usage.input_tokens" not in a
    assert a["gen_ai.usage.output_tokens"] == 2
    assert a["gen_ai.response.id"] == "r-1"  # the end's other attributes are all there
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    tokens = cap.metrics()["gen_ai.client.token.usage"]
    assert [(p["attributes"]["gen_ai.token.type"], p["sum"]) for p in tokens] == [("output", 2)]
    assert not _guard.reported_sites() & {"inference.end", "metrics.record"}


def test_an_integral_float_token_count_is_taken_as_an_int(cap: Capture) -> None:
    toy.Client(usage=(7.0, 2)).create(model="toy-1", prompt="a")
    value = cap.spans()[0].attributes["gen_ai.usage.input_tokens"]
    assert value == 7 and type(value) is int


def test_uninstrumented_call_is_identical() -> None:
    inst = toy.ToyInstrumentor()
    with capture():
        traced = toy.Client().create(model="toy-1", prompt="same")
        inst.uninstrument()
        try:
            plain = toy.Client().create(model="toy-1", prompt="same")
            assert "__wrapped__" not in vars(toy.Client)["create"].__dict__
        finally:
            inst.instrument()
    assert traced == plain and type(traced) is type(plain)


def test_instrument_twice_is_a_noop_and_uninstrument_restores() -> None:
    inst = toy.ToyInstrumentor()
    wrapped = vars(toy.Client)["create"]
    inst.instrument()
    assert vars(toy.Client)["create"] is wrapped
    inst.uninstrument()
    original = vars(toy.Client)["create"]
    assert not hasattr(original, "__wrapped__")
    inst.uninstrument()
    assert vars(toy.Client)["create"] is original
    inst.instrument()


def test_provider_error_propagates_unchanged(cap: Capture) -> None:
    err = toy.ToyError("rate limited")
    with pytest.raises(toy.ToyError) as info:
        toy.Client(fail=err).create(model="toy-1", prompt="x")
    assert info.value is err
    span = cap.span("chat toy-1")
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "tests.core.toy.ToyError"
    duration = cap.metrics()["gen_ai.client.operation.duration"]
    assert duration[0]["attributes"]["error.type"] == "tests.core.toy.ToyError"


def _stream_span(cap: Capture) -> dict:
    spans = [s for s in cap.snapshot() if s["name"] == "chat toy-1"]
    assert len(spans) == 1, spans
    return spans[0]


@pytest.mark.usefixtures("spill_sizes")
def test_stream_fully_consumed(cap: Capture) -> None:
    stream = toy.Client().create(model="toy-1", prompt="a b c", stream=True)
    assert isinstance(stream, toy.Stream)
    seen = []
    for chunk in stream:
        assert trace.get_current_span() is trace.INVALID_SPAN  # the span is not current between chunks
        seen.append(chunk.text)
    assert seen == ["echo", "a", "b", "c", ""]
    span = _stream_span(cap)
    assert span["status"] == "UNSET"
    a = span["attributes"]
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (7, 4)
    assert a["gen_ai.response.time_to_first_chunk"] == "<duration>"
    assert a["llm.stream.chunks"] == 5
    m = cap.metrics()
    assert m["gen_ai.client.operation.time_to_first_chunk"][0]["count"] == 1
    assert m["gen_ai.client.operation.time_per_output_chunk"][0]["count"] == 4  # one per chunk after the first


@pytest.mark.usefixtures("spill_sizes")
@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize("chunk_metrics", ["each", "mean"])
def test_time_per_output_chunk_is_each_chunk_s_gap(monkeypatch: pytest.MonkeyPatch, is_async: bool,
                                                   chunk_metrics: str) -> None:
    """One point per chunk after the first: the time since the chunk before it (the convention's
    rule), in both metric namings; or, with ``chunk_metrics="mean"``, one point a stream: the mean."""
    offsets_ms = iter([0, 10, 30, 60, 100])
    first: list[int] = []  # the real time of the first chunk, so the time to it stays real

    def stepped_clock() -> int:
        first or first.append(time.perf_counter_ns())
        return first[0] + next(offsets_ms) * 1_000_000

    monkeypatch.setattr(_stream, "perf_counter_ns", stepped_clock)
    with capture(metrics_mode="both", chunk_metrics=chunk_metrics) as cap:
        if is_async:
            async def read() -> list[Any]:
                return [chunk.text async for chunk in await toy.AsyncClient().create(
                    model="toy-1", prompt="a b c", stream=True)]
            seen = asyncio.run(read())
        else:
            seen = [chunk.text for chunk in toy.Client().create(model="toy-1", prompt="a b c", stream=True)]
        assert len(seen) == 5
        m = cap.metrics()
    for name in ("gen_ai.client.operation.time_per_output_chunk", "gen_ai.client.inference.time_per_output_chunk"):
        (point,) = m[name]
        gaps = [0.010, 0.020, 0.030, 0.040]
        if chunk_metrics == "mean":
            gaps = [sum(gaps) / len(gaps)]
        assert (point["count"], point["sum"]) == (len(gaps), pytest.approx(sum(gaps))), name
    assert m["gen_ai.client.operation.time_to_first_chunk"][0]["count"] == 1


@pytest.mark.usefixtures("spill_sizes")
def test_stream_break_then_close(cap: Capture) -> None:
    stream = toy.Client().create(model="toy-1", prompt="a b c", stream=True)
    for _ in stream:
        break
    assert cap.spans() == []
    stream.close()
    stream.close()
    assert stream.closed
    span = _stream_span(cap)
    assert span["attributes"]["gen_ai.response.finish_reasons"] == ["error"]
    assert span["attributes"]["llm.stream.chunks"] == 1
    assert span["status"] == "UNSET"


@pytest.mark.usefixtures("spill_sizes")
def test_stream_abandoned_is_ended_by_gc(cap: Capture) -> None:
    stream = toy.Client().create(model="toy-1", prompt="a b c", stream=True)
    next(iter(stream))
    del stream
    gc.collect()
    assert _stream_span(cap)["attributes"]["gen_ai.response.finish_reasons"] == ["error"]


def test_a_stream_collected_inside_an_exporters_lock_does_not_deadlock(cap: Capture) -> None:
    # The garbage collector runs a dropped stream's finalizer wherever an allocation sets it off,
    # inside whatever lock that code holds: here the in-memory exporter's, which the span's end
    # takes too. Ended there, the stream would wait for this thread forever.
    stream = toy.Client().create(model="toy-1", prompt="a b c", stream=True)
    next(iter(stream))
    exporter_lock = cap._spans._lock
    collected = threading.Event()

    def drop_inside_the_lock() -> None:
        nonlocal stream
        with exporter_lock:
            del stream
            gc.collect()
        collected.set()

    worker = threading.Thread(target=drop_inside_the_lock, daemon=True)
    worker.start()
    assert collected.wait(10), "the stream's end waited for a lock its own thread held"
    after_the_drop = time.time_ns()
    time.sleep(0.01)
    assert _stream_span(cap)["attributes"]["gen_ai.response.finish_reasons"] == ["error"]
    (span,) = cap.spans()
    assert span.end_time is not None and span.end_time <= after_the_drop  # ended as of the drop


def test_streams_open_at_shutdown_are_ended_then_once(cap: Capture) -> None:
    from llm_observatory.instrumentation._core import _stream

    before = len(_stream._open)
    done = toy.Client().create(model="toy-1", prompt="a b", stream=True)
    list(done)
    half = toy.Client().create(model="toy-1", prompt="a b c", stream=True)
    next(iter(half))
    assert len(_stream._open) == before + 1  # the exhausted stream is no longer held
    assert _stream.end_open_streams() == before + 1
    assert len(_stream._open) == 0
    half.close()  # its span ended already: not again
    spans = cap.spans()  # in end order
    assert [s.attributes["gen_ai.response.finish_reasons"] for s in spans] == [("stop",), ("error",)]
    assert [s.attributes.get("llm.unfinished") for s in spans] == [None, True]


def test_a_call_in_flight_at_shutdown_is_ended_unfinished_then_once(cap: Capture) -> None:
    from llm_observatory.instrumentation._core import _inference

    hold, results = threading.Event(), []
    worker = threading.Thread(target=lambda: results.append(
        toy.Client(hold=hold).create(model="toy-1", prompt="slow")))
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not any(ref() is not None and not ref().done for ref in list(_inference._open.values())):
            assert time.monotonic() < deadline, "the call never started"
            time.sleep(0.005)
        assert _inference.end_unfinished() == 1
        (span,) = cap.spans()  # exported now, while the call is still running
        assert span.attributes["llm.unfinished"] is True
        assert not {"gen_ai.response.id", "gen_ai.response.finish_reasons"} & set(span.attributes)  # none came
        assert not results
    finally:
        hold.set()
        worker.join(10)
    assert results[0].text == "echo slow"  # the call itself goes on, untouched
    assert len(cap.spans()) == 1  # and its end does not end the span again
    assert cap.metrics()["gen_ai.client.operation.duration"][0]["count"] == 1


def _race(*targets: Any) -> None:
    """Run each target on a thread of its own, switching threads as often as the interpreter can."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=target) for target in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        sys.setswitchinterval(interval)


def test_a_stream_ended_by_its_reader_and_the_shutdown_at_once_ends_once(
        cap: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader's close and the shutdown's end of the same stream, released together on two
    threads, many times: each stream's chunks are digested once, and it gets one span and one
    duration point, whichever wins."""
    finishes: list[int] = []
    finish = toy._Accumulator.finish

    def counted(self: Any, chunks: list[Any]) -> None:
        finishes.append(id(self))
        time.sleep(0.0005)  # (a handler's digestion takes this long with many chunks: room to race in)
        finish(self, chunks)

    monkeypatch.setattr(toy._Accumulator, "finish", counted)
    n = 40
    streams = [toy.Client().create(model="toy-1", prompt="a b c", stream=True) for _ in range(n)]
    for stream in streams:
        next(iter(stream))
    states = list(_stream._open.values())[-n:]
    barrier = threading.Barrier(2)
    won: list[bool] = []

    def readers() -> None:
        for stream in streams:
            barrier.wait()
            stream.close()

    def shutdown() -> None:
        for state in states:
            barrier.wait()
            won.append(state.stop(unfinished=True))

    _race(readers, shutdown)
    assert len(finishes) == len(set(finishes)) == n
    spans = cap.spans()
    assert len(spans) == n
    assert len({s.context.span_id for s in spans}) == n
    assert cap.metrics()["gen_ai.client.operation.duration"][0]["count"] == n
    # a span is marked unfinished exactly when the shutdown's end was the one that ended it
    assert sum(s.attributes.get("llm.unfinished") is True for s in spans) == sum(won)


def test_an_inference_ended_twice_at_once_is_ended_once(cap: Capture) -> None:
    from llm_observatory.instrumentation._core import _inference

    n = 40
    hold, done = threading.Event(), []
    workers = [threading.Thread(target=lambda: done.append(toy.Client(hold=hold).create(model="toy-1", prompt="x")))
               for _ in range(n)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 10
    while sum(ref() is not None and not ref().done for ref in list(_inference._open.values())) < n:
        assert time.monotonic() < deadline, "the calls never started"
        time.sleep(0.005)
    inferences = [ref() for ref in list(_inference._open.values())[-n:]]
    barrier = threading.Barrier(2)
    won: list[list[bool]] = [[], []]

    def ender(side: int) -> None:
        for inference in inferences:
            barrier.wait()
            won[side].append(inference.end(cut=True, unfinished=side == 1))

    try:
        _race(lambda: ender(0), lambda: ender(1))
    finally:
        hold.set()
        for worker in workers:
            worker.join(10)
    assert [a + b for a, b in zip(*won, strict=True)] == [1] * n  # one of the two ended each
    assert len(done) == n  # the calls went on, and their own ends ended nothing again
    assert len(cap.spans()) == n
    assert cap.metrics()["gen_ai.client.operation.duration"][0]["count"] == n


@pytest.mark.usefixtures("spill_sizes")
def test_stream_user_exception_in_with_block(cap: Capture) -> None:
    with pytest.raises(KeyError), toy.Client().create(model="toy-1", prompt="a b", stream=True) as stream:
        for _ in stream:
            raise KeyError("user code failed")
    span = _stream_span(cap)
    assert span["status"] == "ERROR"
    assert span["attributes"]["error.type"] == "KeyError"
    assert span["attributes"]["gen_ai.response.finish_reasons"] == ["error"]


@pytest.mark.usefixtures("spill_sizes")
def test_stream_with_block_exited_early(cap: Capture) -> None:
    with toy.Client().create(model="toy-1", prompt="a b", stream=True) as stream:
        assert isinstance(stream, toy.Stream)
        next(stream)
    assert stream.closed
    span = _stream_span(cap)
    assert span["status"] == "UNSET"
    assert span["attributes"]["gen_ai.response.finish_reasons"] == ["error"]


@pytest.mark.usefixtures("spill_sizes")
def test_stream_transport_error_mid_stream(cap: Capture) -> None:
    stream = toy.Client(fail_after=2).create(model="toy-1", prompt="a b c", stream=True)
    got = []
    with pytest.raises(toy.ToyError):
        for chunk in stream:
            got.append(chunk)
    assert len(got) == 2
    span = _stream_span(cap)
    assert span["status"] == "ERROR"
    assert span["attributes"]["error.type"] == "tests.core.toy.ToyError"
    assert span["attributes"]["llm.stream.chunks"] == 2


@pytest.mark.usefixtures("spill_sizes")
def test_stream_content_capture_records_what_arrived() -> None:
    with capture(capture_content=True) as cap:
        stream = toy.Client().create(model="toy-1", prompt="a b c", stream=True)
        next(stream), next(stream)
        stream.close()
    a = _stream_span(cap)["attributes"]
    assert a["gen_ai.input.messages"] == '[{"role":"user","parts":[{"type":"text","content":"a b c"}]}]'
    assert a["gen_ai.output.messages"] == (
        '[{"role":"assistant","parts":[{"type":"text","content":"echo a"}],"finish_reason":"error"}]'
    )


def test_content_off_records_no_text(cap: Capture) -> None:
    toy.Client().create(model="toy-1", prompt="secret words", stream=False)
    for span in cap.snapshot():
        assert "secret" not in repr(span)


@pytest.mark.usefixtures("spill_sizes")
async def test_async_call_and_stream(cap: Capture) -> None:
    result = await toy.AsyncClient().create(model="toy-1", prompt="x")
    assert isinstance(result, toy.Response)
    stream = await toy.AsyncClient().create(model="toy-1", prompt="a b", stream=True)
    assert isinstance(stream, toy.AsyncStream)
    texts = [c.text async for c in stream]
    assert texts == ["echo", "a", "b", ""]
    names = [s.name for s in cap.spans()]
    assert names == ["chat toy-1", "chat toy-1"]
    assert cap.spans()[1].attributes["gen_ai.response.finish_reasons"] == ("stop",)


@pytest.mark.usefixtures("spill_sizes")
async def test_async_stream_close_and_context_manager(cap: Capture) -> None:
    stream = await toy.AsyncClient().create(model="toy-1", prompt="a b", stream=True)
    await stream.__anext__()
    await stream.close()
    async with await toy.AsyncClient().create(model="toy-1", prompt="a b", stream=True) as s2:
        await s2.__anext__()
    assert s2.closed
    spans = cap.spans()
    assert len(spans) == 2
    assert all(s.attributes["gen_ai.response.finish_reasons"] == ("error",) for s in spans)


@pytest.mark.usefixtures("spill_sizes")
async def test_async_stream_transport_error(cap: Capture) -> None:
    stream = await toy.AsyncClient(fail_after=1).create(model="toy-1", prompt="a b", stream=True)
    with pytest.raises(toy.ToyError):
        async for _ in stream:
            pass
    assert cap.span("chat toy-1").attributes["error.type"] == "tests.core.toy.ToyError"


def test_our_failure_never_reaches_the_user(cap: Capture, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    def broken(self: object, inference: object, result: object) -> object:
        raise RuntimeError("adapter bug")

    monkeypatch.setattr(toy._Handler, "finish", broken)
    monkeypatch.setattr(_guard, "_reported", set())
    with caplog.at_level(logging.WARNING, logger="llm_observatory"):
        first = toy.Client().create(model="toy-1", prompt="x")
        second = toy.Client().create(model="toy-1", prompt="x")
    assert first == second == toy.Response("r-1", "toy-1-2024", "echo x", "stop", (7, 2))
    assert len([r for r in caplog.records if "internal error" in r.getMessage()]) == 1
    assert len(cap.spans()) == 2  # each span still ended


def test_sampling_off_still_works_and_counts_metrics() -> None:
    with capture(sampler=ALWAYS_OFF) as cap:
        assert toy.Client().create(model="toy-1", prompt="x").text == "echo x"
        stream = toy.Client().create(model="toy-1", prompt="a", stream=True)
        assert [c.text for c in stream] == ["echo", "a", ""]
    assert cap.spans() == []
    assert sum(p["count"] for p in cap.metrics()["gen_ai.client.operation.duration"]) == 2


class _CountingCounter:
    """A counter that records each ``add`` it is given (and passes it on, when it wraps one)."""

    def __init__(self, counter: Any = None) -> None:
        self.counter = counter
        self.adds: list[tuple[float, dict[str, Any]]] = []

    def add(self, amount: float, attributes: Any = None) -> None:
        self.adds.append((amount, dict(attributes or {})))
        if self.counter is not None:
            self.counter.add(amount, attributes)


def test_counter_adds_queued_together_are_summed() -> None:
    """The adds waiting for one flush reach each counter once per attribute set, with their sum."""
    a, b = _CountingCounter(), _CountingCounter()
    with capture() as cap:
        metrics = cap.telemetry.metrics
        with metrics._flush_lock:  # the drain thread waits: all four are in one flush
            metrics.count(a, 1, {"k": "x"})
            metrics.count(b, 1, {"k": "x"})
            metrics.count(a, 2, {"k": "x"})
            metrics.count(a, 5, {"k": "y"})
        metrics.flush()
    assert a.adds == [(3, {"k": "x"}), (5, {"k": "y"})]
    assert b.adds == [(1, {"k": "x"})]


def test_calls_between_two_flushes_add_to_their_counters_once() -> None:
    """Three unpriced calls drained together: one add of 3 to the unpriced-calls counter, and three
    points in the duration histogram."""
    with capture() as cap:
        metrics = cap.telemetry.metrics
        metrics.unpriced = counting = _CountingCounter(metrics.unpriced)
        with metrics._flush_lock:
            for prompt in ("a", "b", "c"):
                toy.Client().create(model="toy-1", prompt=prompt)
        m = cap.metrics()
    assert [amount for amount, _ in counting.adds] == [3]
    assert m["llm.client.unpriced_calls"][0]["value"] == 3
    assert m["gen_ai.client.operation.duration"][0]["count"] == 3


def test_latest_metric_names() -> None:
    with capture(metrics_mode="latest") as cap:
        toy.Client().create(model="toy-1", prompt="x")
    m = cap.metrics()
    assert "gen_ai.client.operation.duration" not in m
    assert m["gen_ai.client.inference.duration"][0]["count"] == 1
    assert m["gen_ai.client.inference.usage.input_tokens"][0]["value"] == 7
    assert m["gen_ai.client.inference.usage.input_tokens"][0]["attributes"]["gen_ai.token.modality"] == "text"


def test_a_flush_does_only_the_work_queued_when_it_starts() -> None:
    # a busy app's threads queue work all the time (streams dropped, points): a flush, at exit
    # or force_flush(), that took on what came in meanwhile might never end
    from llm_observatory.instrumentation._core import _metrics

    runs: list[int] = []

    def again() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            _metrics.later(again)

    _metrics.later(again)
    assert _metrics.flush_all(timeout=5)
    assert runs in ([0], [0, 1])  # (the background thread may have done one round before it)
    assert _metrics.flush_all(timeout=5) and _metrics.flush_all(timeout=5) and runs == [0, 1, 2]
