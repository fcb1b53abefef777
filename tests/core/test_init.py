"""init(), shutdown(), force_flush() and coexistence, each in a fresh interpreter."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_python
from tests.otlp_receiver import otlp_receiver


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_exports_spans_and_metrics_over_otlp_http() -> None:
    with otlp_receiver() as (url, received):
        proc = run_python(f"""
            import llm_observatory as observatory
            observatory.init(service_name="svc-a", environment="staging", endpoint="{url}")

            @observatory.tool
            def search(q): return q

            with observatory.session("s-9"):
                search("x")
            assert observatory.shutdown()
        """)
        assert proc.returncode == 0, proc.stderr
    spans = received.spans()
    assert [(s.name, r["service.name"], r["deployment.environment.name"]) for r, s in spans] == [
        ("execute_tool search", "svc-a", "staging")
    ]
    attrs = {kv.key: kv.value.string_value for kv in spans[0][1].attributes}
    assert attrs["session.id"] == "s-9"
    assert "gen_ai.execute_tool.duration" in received.metric_names()


def test_existing_tracer_provider_is_kept_and_extended() -> None:
    proc = run_python("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import llm_observatory as observatory

        app_exporter = InMemorySpanExporter()
        app_provider = TracerProvider()
        app_provider.add_span_processor(SimpleSpanProcessor(app_exporter))
        trace.set_tracer_provider(app_provider)

        observatory.init(service_name="ignored")
        assert trace.get_tracer_provider() is app_provider

        @observatory.task
        def work(): return 1

        with observatory.user("u-1"):
            work()
            with trace.get_tracer("app").start_as_current_span("app-span"):
                pass
        spans = {s.name: dict(s.attributes) for s in app_exporter.get_finished_spans()}
        assert spans["work"]["user.id"] == "u-1", spans
        assert spans["app-span"]["user.id"] == "u-1", spans
        # our processors are added, and an exporter only when asked for
        assert len(app_provider._active_span_processor._span_processors) == 2
        observatory.shutdown()
        assert len(app_provider._active_span_processor._span_processors) == 1
        # the app's own provider still works after our shutdown
        with trace.get_tracer("app").start_as_current_span("after"):
            pass
        assert [s.name for s in app_exporter.get_finished_spans()][-1] == "after"
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_init_twice_warns_and_changes_nothing() -> None:
    proc = run_python("""
        import logging
        logging.basicConfig(level=logging.WARNING)
        from opentelemetry import trace
        import llm_observatory as observatory
        observatory.init(exporter="none")
        first = trace.get_tracer_provider()
        observatory.init(exporter="console")
        assert trace.get_tracer_provider() is first
        observatory.task(lambda: None)()
        observatory.shutdown()
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("init() was already called") == 1
    assert "trace " not in proc.stdout  # the second call's console exporter was not added


def test_unreachable_endpoint_one_warning_and_bounded_shutdown() -> None:
    port = _closed_port()
    proc = run_python(f"""
        import json, logging, time
        logging.basicConfig(level=logging.INFO)
        import llm_observatory as observatory
        observatory.init(endpoint="http://127.0.0.1:{port}", export_timeout=2)

        @observatory.task
        def work(i): return i

        for i in range(50):
            assert work(i) == i
        observatory.force_flush(timeout=3)
        for i in range(50):
            work(i)
        t0 = time.monotonic()
        finished = observatory.shutdown(timeout=5)
        print(json.dumps({{"elapsed": time.monotonic() - t0}}))
    """, timeout=60)
    assert proc.returncode == 0, proc.stderr
    elapsed = json.loads(proc.stdout.strip().splitlines()[-1])["elapsed"]
    assert elapsed <= 5.5
    warnings = [line for line in proc.stderr.splitlines() if "cannot export" in line]
    assert len(warnings) <= 2 and any("spans" in w for w in warnings), proc.stderr  # spans and metrics
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Transient error" not in proc.stderr and "Failed to export" not in proc.stderr, proc.stderr


def test_console_exporter_prints_a_tree() -> None:
    proc = run_python("""
        import llm_observatory as observatory
        observatory.init(service_name="demo-svc", exporter="console", metrics=False)

        @observatory.tool
        def lookup(): return 1

        @observatory.workflow
        def answer():
            return lookup()

        answer()
        observatory.shutdown()
    """)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "(demo-svc)" in lines[0]
    assert lines[1].startswith("└─ invoke_workflow answer")
    assert lines[2].startswith("   └─ execute_tool lookup")


def test_env_configuration_and_bad_values_warn() -> None:
    proc = run_python("""
        from opentelemetry import trace
        import llm_observatory as observatory
        observatory.init()
        tp = trace.get_tracer_provider()
        names = [type(p).__name__ for p in tp._active_span_processor._span_processors]
        print(names)
        print(tp.resource.attributes["service.name"])
        observatory.shutdown()
    """, env={"OTEL_TRACES_EXPORTER": "console", "LLM_OBSERVATORY_SERVICE_NAME": "from-env",
              "LLM_OBSERVATORY_MAX_CONTENT_LENGTH": "-3", "LLM_OBSERVATORY_METRICS": "maybe"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["['ContextEnrichmentProcessor', 'SimpleSpanProcessor']", "from-env"]
    assert "ignoring LLM_OBSERVATORY_MAX_CONTENT_LENGTH='-3'" in proc.stderr
    assert "ignoring LLM_OBSERVATORY_METRICS='maybe'" in proc.stderr


def test_import_does_not_set_anything_up() -> None:
    proc = run_python("""
        import threading, concurrent.futures
        before = (threading.Thread.start, concurrent.futures.ThreadPoolExecutor.submit)
        import llm_observatory
        from opentelemetry import trace
        assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
        assert (threading.Thread.start, concurrent.futures.ThreadPoolExecutor.submit) == before
        print("ok")
    """)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_zero_code_opentelemetry_instrument() -> None:
    instrument = [str(Path(sys.executable).parent / "opentelemetry-instrument")]
    with otlp_receiver() as (url, received):
        proc = run_python("", args=[*instrument, sys.executable, str(ROOT / "examples" / "zero_code.py")], env={
            "OTEL_SERVICE_NAME": "zero-code-app",
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "OTEL_PYTHON_DISTRO": "llm_observatory",
            "OTEL_PYTHON_CONFIGURATOR": "llm_observatory",
        })
        assert proc.returncode == 0, proc.stderr
        deadline = time.monotonic() + 10
        while not received.spans() and time.monotonic() < deadline:
            time.sleep(0.05)
    spans = received.spans()
    names = sorted(s.name for _, s in spans)
    assert names == ["execute_tool lookup_order", "invoke_agent support_agent"], proc.stdout + proc.stderr
    assert {r["service.name"] for r, _ in spans} == {"zero-code-app"}
    tagged = {kv.key: kv.value for _, s in spans for kv in s.attributes}
    assert tagged["session.id"].string_value == "session-1"


def test_libraries_are_instrumented_when_imported_and_restored_at_shutdown() -> None:
    proc = run_python("""
        import sys
        import wrapt
        import llm_observatory as observatory

        def wrapped(cls):
            return isinstance(vars(cls)["create"], wrapt.FunctionWrapper)

        observatory.init(exporter="none")
        assert "openai" not in sys.modules, "init() must not import the libraries it instruments"
        from openai.resources.chat.completions import Completions
        assert wrapped(Completions)
        observatory.shutdown()
        assert not wrapped(Completions)
        observatory.init(exporter="none", disable=["openai"])
        assert not wrapped(Completions)
        observatory.shutdown()
        observatory.init(exporter="none")  # already imported: instrumented at once
        assert wrapped(Completions)
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_init_skips_an_integration_whose_parent_package_is_missing() -> None:
    # find_spec("pkg.sub") raises when "pkg" itself is not installed; init() must carry on.
    proc = run_python("""
        from llm_observatory import instrumentation
        instrumentation.REGISTRY["ghost"] = ("ghost_package_not_installed.core", "ghost:Instrumentor")
        import llm_observatory as observatory
        observatory.init(service_name="t", exporter="console", metrics=False, logs=False)

        @observatory.task
        def work() -> int:
            return 1

        print("result:", work())
        observatory.shutdown()
    """)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "result: 1" in proc.stdout and "work" in proc.stdout  # traced and exported


def test_openai_resource_modules_stay_lazy_and_are_instrumented_when_first_used() -> None:
    proc = run_python("""
        import sys
        import httpx
        import wrapt
        import llm_observatory as observatory
        from llm_observatory.testing import capture

        def wrapped(cls):
            return isinstance(vars(cls)["create"], wrapt.FunctionWrapper)

        body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "hi"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}

        def chat_spans():
            client = openai.OpenAI(api_key="sk-test", http_client=httpx.Client(
                transport=httpx.MockTransport(lambda request: httpx.Response(200, json=body))))
            with capture() as cap:
                client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
            return [s.name for s in cap.spans()]

        observatory.init(exporter="none")
        import openai
        assert "openai.resources" not in sys.modules, "openai loads its resources on first use; so do we"
        observatory.shutdown()  # before the resources are first used: the pending wrap does nothing
        from openai.resources.embeddings import Embeddings
        assert not wrapped(Embeddings)
        assert chat_spans() == []

        observatory.init(exporter="none")  # imported now: wrapped at once
        assert wrapped(Embeddings)
        assert chat_spans() == ["chat gpt-4o-mini"]
        observatory.shutdown()
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_an_instrumentation_package_imported_before_its_library_after_init() -> None:
    # Importing ``llm_observatory.instrumentation.<x>`` imports nothing of the library. Were it
    # to, the import hook set by init() would fire while that package is half imported, and the
    # library would stay uninstrumented (with a traceback in the log).
    proc = run_python("""
        import sys
        import llm_observatory as observatory

        libraries = {"openai": "openai", "anthropic": "anthropic", "langchain": "langchain_core",
                     "llamaindex": "llama_index.core"}
        for package, library in libraries.items():
            __import__(f"llm_observatory.instrumentation.{package}")
            assert library not in sys.modules, f"importing our {package} package imported {library}"

        observatory.init(exporter="none")
        from llm_observatory.instrumentation.anthropic import AnthropicInstrumentor
        from llm_observatory.instrumentation.openai import OpenAIInstrumentor
        import anthropic, openai
        from openai.resources.chat.completions import Completions
        from anthropic.resources.messages import Messages
        assert OpenAIInstrumentor().is_instrumented_by_opentelemetry
        assert AnthropicInstrumentor().is_instrumented_by_opentelemetry
        assert hasattr(vars(Completions)["create"], "__wrapped__")
        assert hasattr(vars(Messages)["create"], "__wrapped__")
        observatory.shutdown()
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "could not instrument" not in proc.stderr, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_an_instrumentor_instrumented_by_hand_after_init_before_its_library_is_imported() -> None:
    # The instrumentor's own instrument() imports the library; init()'s import hook then fires
    # inside it and asks the same instrumentor to instrument: that inner call leaves the work to
    # the outer one (it used to run half-way and log a traceback: anthropic's handlers, half imported).
    proc = run_python("""
        import importlib, sys
        import llm_observatory as observatory

        observatory.init(exporter="none")
        instrumentors = {"openai": "OpenAIInstrumentor", "anthropic": "AnthropicInstrumentor",
                         "langchain": "LangChainInstrumentor", "llamaindex": "LlamaIndexInstrumentor"}
        for package, name in instrumentors.items():
            cls = getattr(importlib.import_module(f"llm_observatory.instrumentation.{package}"), name)
            cls().instrument()
            assert cls().is_instrumented_by_opentelemetry, package
        import anthropic, openai
        from openai.resources.chat.completions import Completions
        from anthropic.resources.messages import Messages
        assert hasattr(vars(Completions)["create"], "__wrapped__")
        assert hasattr(vars(Messages)["create"], "__wrapped__")
        import wrapt
        assert not isinstance(vars(Messages)["create"].__wrapped__, wrapt.ObjectProxy)  # wrapped once
        observatory.shutdown()
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "could not instrument" not in proc.stderr, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_a_process_forked_right_after_init_works() -> None:
    # gunicorn --preload and multiprocessing fork right after the application (and init()) is
    # loaded, while the price data may still be loading in a background thread. Forked mid-import,
    # the child inherited that import's lock, held by a thread it does not have: its first priced
    # call waited forever. fork() now waits for the load; nor does the child record the parent's
    # waiting metric points, decide the parent's waiting traces, or end the parent's open streams.
    proc = run_python("""
        import faulthandler, importlib.util, os
        import llm_observatory as observatory
        from llm_observatory.instrumentation._core import _metrics, _stream, _telemetry
        from llm_observatory.pricing import default_pricer

        _metrics.DRAIN_INTERVAL_S = 3600.0  # the parent's point stays queued while the child runs
        observatory.init(exporter="none", tail_sampling=0.5)
        metrics = _telemetry.current().metrics
        metrics.defer(metrics.cost.add, 1.0, {})  # a point the parent has not recorded yet
        _stream._open[0] = "a stream the parent has open"
        pid = os.fork()
        if pid == 0:
            faulthandler.dump_traceback_later(20, exit=True)
            ok = not metrics._pending  # the parent's point is the parent's to record
            ok = ok and not _stream._open  # and its streams the parent's to end
            cost = default_pricer().cost("openai", "gpt-4o-mini", 1000, 100)
            if importlib.util.find_spec("genai_prices") is not None:  # the price data (Python 3.11+)
                ok = ok and cost is not None and cost.total > 0
            ok = ok and observatory.force_flush(timeout=10)
            observatory.shutdown()
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print("child:", os.waitstatus_to_exitcode(status), "parent still waiting:", len(metrics._pending),
              len(_stream._open))
        del _stream._open[0]
        observatory.shutdown()
    """, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "child: 0 parent still waiting: 1 1", proc.stdout + proc.stderr


def test_chunk_metrics_option_from_the_environment(caplog: pytest.LogCaptureFixture) -> None:
    from llm_observatory._config import Options

    assert Options.resolve(environ={}).chunk_metrics == "each"
    assert Options.resolve(environ={"LLM_OBSERVATORY_CHUNK_METRICS": " MEAN "}).chunk_metrics == "mean"
    assert Options.resolve(environ={"LLM_OBSERVATORY_CHUNK_METRICS": "mean"}, chunk_metrics="each").chunk_metrics \
        == "each"  # a keyword argument wins
    with caplog.at_level("WARNING", logger="llm_observatory"):
        assert Options.resolve(environ={"LLM_OBSERVATORY_CHUNK_METRICS": "median"}).chunk_metrics == "each"
    assert "ignoring LLM_OBSERVATORY_CHUNK_METRICS='median'" in caplog.text
