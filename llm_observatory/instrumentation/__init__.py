"""Instrumentations: a provider-agnostic core (``_core``) and one thin adapter per library."""

#: Instrumentations that ``init()`` installs, by name: (module of the library, instrumentor path).
#: Each is also registered under the ``opentelemetry_instrumentor`` entry point group.
REGISTRY: dict[str, tuple[str, str]] = {
    "openai": ("openai", "llm_observatory.instrumentation.openai:OpenAIInstrumentor"),
    "anthropic": ("anthropic", "llm_observatory.instrumentation.anthropic:AnthropicInstrumentor"),
    "langchain": ("langchain_core", "llm_observatory.instrumentation.langchain:LangChainInstrumentor"),
    "llamaindex": ("llama_index.core", "llm_observatory.instrumentation.llamaindex:LlamaIndexInstrumentor"),
}
