"""init() and opentelemetry-instrument find the LlamaIndex instrumentation."""

from __future__ import annotations

from importlib.metadata import entry_points

from llm_observatory.instrumentation.llamaindex import LlamaIndexInstrumentor
from tests.conftest import run_python


def test_entry_point() -> None:
    (ep,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "llamaindex"]
    assert ep.load() is LlamaIndexInstrumentor


def test_init_instruments_llamaindex_when_the_app_imports_it() -> None:
    proc = run_python("""
        import sys
        import llm_observatory as observatory
        observatory.init(service_name="t", exporter="console", metrics=False, logs=False)
        assert "llama_index.core" not in sys.modules
        from llama_index.core import Document, VectorStoreIndex
        from llama_index.core.embeddings import MockEmbedding
        from llama_index.core.llms import MockLLM
        index = VectorStoreIndex.from_documents([Document(text="Paris is in France.")],
                                                embed_model=MockEmbedding(embed_dim=4))
        print("result:", bool(str(index.as_query_engine(llm=MockLLM(max_tokens=3)).query("Paris?"))))
        observatory.shutdown()
    """)
    assert proc.returncode == 0, proc.stderr
    assert "result: True" in proc.stdout
    assert "invoke_workflow RetrieverQueryEngine" in proc.stdout and "retrieval VectorIndexRetriever" in proc.stdout
