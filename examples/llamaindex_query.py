"""LlamaIndex, instrumented: a vector index queried plainly and streamed, over llama-index's
OpenAI LLM (answered offline), with the model call counted once on the openai span beneath it.

Run: ``python examples/llamaindex_query.py`` (needs ``llama-index-core`` and ``llama-index-llms-openai``).
"""

from __future__ import annotations

import llm_observatory as observatory

observatory.init(service_name="llamaindex-example", exporter="console", metrics=False, logs=False)

from _offline_openai import offline_http_client  # noqa: E402
from llama_index.core import Document, VectorStoreIndex  # noqa: E402
from llama_index.core.embeddings import BaseEmbedding  # noqa: E402
from llama_index.llms.openai import OpenAI  # noqa: E402


class KeywordEmbedding(BaseEmbedding):
    """A local stand-in for an embedding model, so the example needs no key and no network."""

    def _vector(self, text: str) -> list[float]:
        words = text.lower()
        return [float(words.count(k)) + 0.01 for k in ("return", "free", "ship", "order", "day")]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)


handbook = [Document(text="Returns are free within 30 days of delivery."),
            Document(text="Orders ship within two working days.")]
index = VectorStoreIndex.from_documents(handbook, embed_model=KeywordEmbedding())
llm = OpenAI(model="gpt-4o-mini", api_key="sk-offline-example", http_client=offline_http_client())

with observatory.user("customer-7"):
    engine = index.as_query_engine(llm=llm, similarity_top_k=1)
    print("query:", engine.query("Are returns free?"))
    streaming = index.as_query_engine(llm=llm, similarity_top_k=1, streaming=True)
    print("stream:", "".join(streaming.query("When do orders ship?").response_gen))

observatory.shutdown()
