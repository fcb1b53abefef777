"""init() and opentelemetry-instrument find the LangChain instrumentation."""

from __future__ import annotations

from importlib.metadata import entry_points

from llm_observatory.instrumentation.langchain import LangChainInstrumentor
from tests.conftest import run_python


def test_entry_point() -> None:
    (ep,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "langchain"]
    assert ep.load() is LangChainInstrumentor


def test_init_instruments_langchain_when_the_app_imports_it() -> None:
    proc = run_python("""
        import sys
        import llm_observatory as observatory
        observatory.init(service_name="t", exporter="console", metrics=False, logs=False)
        assert "langchain_core" not in sys.modules  # init() imports nothing of LangChain's
        from langchain_core.language_models.fake_chat_models import FakeListChatModel
        from langchain_core.output_parsers import StrOutputParser
        chain = FakeListChatModel(responses=["hi"]) | StrOutputParser()
        print("result:", chain.invoke("hello"))
        observatory.shutdown()
    """)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "result: hi" in out
    assert "invoke_workflow RunnableSequence" in out and "chat" in out and "StrOutputParser" in out
