"""LangChain, instrumented: a RAG chain (retriever → prompt → ChatOpenAI → parser), streamed
too, with the chat model's tokens and cost counted once, on the openai span beneath it. Offline.

Run: ``python examples/langchain_rag.py`` (needs ``langchain-core`` and ``langchain-openai``).
"""

from __future__ import annotations

import llm_observatory as observatory

observatory.init(service_name="langchain-example", exporter="console", metrics=False, logs=False)

from _offline_openai import offline_http_client  # noqa: E402
from langchain_core.callbacks import CallbackManagerForRetrieverRun  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from langchain_core.output_parsers import StrOutputParser  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402
from langchain_core.runnables import RunnablePassthrough  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402

HANDBOOK = [
    Document(id="returns", page_content="Returns are free within 30 days of delivery."),
    Document(id="shipping", page_content="Orders ship within two working days."),
]


class HandbookRetriever(BaseRetriever):
    """The handbook pages that share a word with the question."""

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        words = {w.strip("?.,").lower() for w in query.split() if len(w) > 3}
        return [d for d in HANDBOOK if words & {w.strip("?.,").lower() for w in d.page_content.split()}]


def format_docs(docs: list[Document]) -> str:
    return "\n".join(d.page_content for d in docs)


prompt = ChatPromptTemplate.from_messages([("system", "Context: {context}"), ("human", "{question}")])
model = ChatOpenAI(model="gpt-4o-mini", api_key="sk-offline-example", http_client=offline_http_client(),
                   stream_usage=True)
chain = {"context": HandbookRetriever() | format_docs, "question": RunnablePassthrough()} | prompt | model \
    | StrOutputParser()

with observatory.session("support-42"):
    print("invoke:", chain.invoke("Are returns free?"))
    print("stream:", "".join(chain.stream("When do orders ship?")))

observatory.shutdown()
