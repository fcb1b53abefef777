"""What is pending when the program exits is exported, and the exit never waits on us: a stream
still open (ended, cut short), a call still running on another thread (ended unfinished), and
the metric points still queued for the background thread.

Each test runs a fresh interpreter that opens a stream, reads one chunk, keeps the stream in a
global and exits. The OpenAI stream asks for no usage, so its end estimates tokens with tiktoken,
whose encoding loads in a background thread; the Anthropic one is its ``messages.stream()``
helper, entered and never left.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from tests.conftest import run_python
from tests.otlp_receiver import otlp_receiver

OPEN_A_STREAM = {
    "openai": """
        import openai
        from tests.openai.fake_openai import FakeOpenAI, httpx

        fake = FakeOpenAI(answer="one two three four five")
        client = openai.OpenAI(api_key="sk-test", max_retries=0,
                               http_client=httpx.Client(transport=fake.transport()))
        STREAM = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Count to five"}], stream=True)
        print("first chunk:", next(iter(STREAM)).id)
    """,
    "anthropic": """
        import anthropic
        from tests.anthropic.fake_anthropic import FakeAnthropic, httpx

        fake = FakeAnthropic(answer="one two three four five")
        client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0,
                                     http_client=httpx.Client(transport=fake.transport()))
        MANAGER = client.messages.stream(model="claude-sonnet-4-20250514", max_tokens=100,
                                         messages=[{"role": "user", "content": "Count to five"}])
        STREAM = MANAGER.__enter__()
        print("first chunk:", next(iter(STREAM.text_stream)))
    """,
}
INSTRUMENTOR = {"openai": "openai import OpenAIInstrumentor as Instrumentor",
                "anthropic": "anthropic import AnthropicInstrumentor as Instrumentor"}


def _script(setup: str, provider: str) -> str:
    """``setup``, then the stream opened (``python -c`` code)."""
    return textwrap.dedent(setup) + textwrap.dedent(OPEN_A_STREAM[provider])


def assert_exits_as_without_us(proc: Any, provider: str) -> None:
    """The program's exit status is its own: 0, or, where the interpreter itself crashes at exit
    without instrumentation too, the same. (CPython 3.13.0 segfaults finalizing an open openai
    stream's HTTP response in its teardown.)"""
    if proc.returncode == 0:
        return
    bare = run_python(_script("", provider), timeout=60)
    assert bare.returncode != 0 and proc.returncode == bare.returncode, (proc.stderr, bare.stderr)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind)


def _chat_spans(received: Any) -> list[dict[str, Any]]:
    return [{kv.key: _value(kv.value) for kv in span.attributes}
            for _, span in received.spans() if span.name.startswith("chat")]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_stream_open_at_exit_is_exported_cut_short(provider: str) -> None:
    with otlp_receiver() as (url, received):
        proc = run_python(_script(f"""
            import llm_observatory as observatory
            observatory.init(service_name="t", endpoint="{url}", metrics=False, logs=False)
        """, provider), timeout=60)
        assert_exits_as_without_us(proc, provider)
        assert "first chunk: " in proc.stdout
        spans = _chat_spans(received)
    assert len(spans) == 1, spans
    attrs = spans[0]
    assert attrs["gen_ai.response.finish_reasons"] == ["error"]
    assert attrs["llm.stream.chunks"] >= 1
    assert attrs["gen_ai.usage.input_tokens"] > 0
    if provider == "openai":  # no usage asked for: estimated
        assert attrs["llm.usage.estimated"] is True


def test_a_call_still_running_on_a_daemon_thread_at_exit_is_exported_unfinished() -> None:
    # the interpreter stops a daemon thread where it is: without the end at exit, its call's span
    # would never end, and never be exported
    with otlp_receiver() as (url, received):
        proc = run_python(f"""
            import threading, time
            import openai
            import llm_observatory as observatory
            from tests.openai.fake_openai import httpx

            observatory.init(service_name="t", endpoint="{url}", metrics=False, logs=False)
            started = threading.Event()

            def never_answers(request):
                started.set()
                time.sleep(600)

            client = openai.OpenAI(api_key="sk-test", max_retries=0,
                                   http_client=httpx.Client(transport=httpx.MockTransport(never_answers)))
            threading.Thread(target=client.chat.completions.create, daemon=True, kwargs=dict(
                model="gpt-4o-mini", messages=[{{"role": "user", "content": "Hi"}}])).start()
            assert started.wait(30)
            print("exiting with the call in flight")
        """, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "exiting with the call in flight" in proc.stdout
        spans = _chat_spans(received)
    assert len(spans) == 1, spans
    assert spans[0]["llm.unfinished"] is True
    assert spans[0]["gen_ai.request.model"] == "gpt-4o-mini"
    assert "gen_ai.response.finish_reasons" not in spans[0]  # no answer came


def test_without_init_the_apps_providers_still_get_the_span_and_the_metrics() -> None:
    # our instrumentation with the app's own providers, which the SDK shuts down at exit; a call
    # just before exiting leaves its metric points queued for the background thread
    with otlp_receiver() as (url, received):
        proc = run_python(_script(f"""
            from opentelemetry import metrics, trace
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from llm_observatory.instrumentation.{INSTRUMENTOR["openai"]}

            Instrumentor().instrument()
            provider = TracerProvider()  # made after instrumenting: its exit hook is still the later one
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint="{url}/v1/traces")))
            trace.set_tracer_provider(provider)
            reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint="{url}/v1/metrics"),
                                                   export_interval_millis=3_600_000)
            metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        """, "openai") + "client.chat.completions.create(model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'Hi'}])\n",
            timeout=60)
        assert_exits_as_without_us(proc, "openai")
        spans = _chat_spans(received)
        names = received.metric_names()
    assert sorted(s["gen_ai.response.finish_reasons"] for s in spans) == [["error"], ["stop"]]
    # the call's points, and the stream's, which ended at exit
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage",
            "gen_ai.client.operation.time_to_first_chunk"} <= names, names


def test_a_stream_left_to_the_interpreters_teardown_does_not_hang_the_exit() -> None:
    # Without the end at exit, the stream is closed while the interpreter tears down: the
    # tokenizer's loader thread is stopped then, perhaps holding its lock.
    proc = run_python(_script(f"""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from llm_observatory.instrumentation._core import _shutdown
        from llm_observatory.instrumentation.{INSTRUMENTOR["openai"]}

        trace.set_tracer_provider(TracerProvider())
        Instrumentor().instrument()
        _shutdown.registered = True  # (as if registered: it never runs)
    """, "openai"), timeout=60)
    assert_exits_as_without_us(proc, "openai")
    assert "first chunk: chatcmpl-" in proc.stdout


def test_the_exit_waits_only_so_long_for_a_background_thread_stuck_in_an_exporter() -> None:
    # A stream dropped unclosed is ended by the background thread; an exporter of the app's own
    # that blocks there (a synchronous export to an endpoint that does not answer) holds it up.
    proc = run_python(_script(f"""
        import gc, threading, time
        from opentelemetry import trace
        from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
        from llm_observatory.instrumentation._core import _metrics
        from llm_observatory.instrumentation.{INSTRUMENTOR["openai"]}

        class Stuck(SpanProcessor):
            def on_end(self, span):
                if threading.current_thread().name == "llm-observatory-metrics":
                    time.sleep(120)

        provider = TracerProvider()
        provider.add_span_processor(Stuck())
        trace.set_tracer_provider(provider)
        Instrumentor().instrument()
        _metrics.EXIT_WAIT_S = 1.0
    """, "openai") + textwrap.dedent("""
        del STREAM
        gc.collect()
        time.sleep(1)  # the background thread takes the stream's end, and is stuck in it
        print("exiting at", time.monotonic())
    """), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "background thread was busy for over 1 s" in proc.stderr, proc.stderr


def test_force_flush_and_shutdown_export_a_dropped_streams_end() -> None:
    # a stream dropped unclosed is ended by the background thread: force_flush() and shutdown()
    # do that work first, instead of leaving it (the thread here waits an hour between rounds)
    proc = run_python(_script("""
        import gc
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import llm_observatory as observatory
        from llm_observatory.instrumentation._core import _metrics

        _metrics.DRAIN_INTERVAL_S = 3600.0
        exporter = InMemorySpanExporter()
        observatory.init(service_name="t", exporter=exporter, metrics=False, logs=False)
    """, "openai") + textwrap.dedent("""
        del STREAM
        gc.collect()
        assert observatory.force_flush(timeout=10)
        print("after force_flush:", [s.attributes["gen_ai.response.finish_reasons"]
                                     for s in exporter.get_finished_spans()])
        again = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Again"}], stream=True)
        next(iter(again))
        del again
        gc.collect()
        observatory.shutdown()
        print("after shutdown:", len(exporter.get_finished_spans()))
    """), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "after force_flush: [('error',)]" in proc.stdout, proc.stdout + proc.stderr
    assert "after shutdown: 2" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize(("load_s", "wait_s", "finished"), [(1.0, 5.0, True), (120.0, 0.5, False)])
def test_the_exit_waits_for_an_encoding_still_loading_and_only_so_long(
        load_s: float, wait_s: float, finished: bool) -> None:
    # A daemon thread still running in the interpreter's teardown is stopped where it is: inside
    # an import, the loader would leave the import lock held, and a finalizer's import then hangs.
    proc = run_python(f"""
        import time
        from llm_observatory.pricing import _background, tokens

        def slow_load(name):
            time.sleep({load_s})
            print("loaded", name, flush=True)
            return None

        tokens._load = slow_load
        _background.WAIT_S = {wait_s}
        tokens.preload("gpt-4o-mini")
        print("exiting", flush=True)
    """, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("exiting")
    assert ("loaded o200k_base" in proc.stdout) is finished, proc.stdout
