"""LangChain instrumentation: chains, chat models, tools, retrievers, agents and LangGraph graphs.

A callback handler is added to every LangChain callback manager as LangChain configures it, so the
application passes nothing. Mapping of runs to spans (see ``docs/langchain.md``):

* a run with no LangChain parent → ``invoke_workflow {name}`` (``invoke_agent {name}`` for an
  agent); a chain inside it → a span named after the runnable; a LangGraph node → a span named
  after the node;
* a chat model or LLM → an inference span (``chat {model}``), whose tokens and cost count
  unless a provider SDK that we instrument beneath it counted them (``llm.inference.delegated_to``);
* a tool → ``execute_tool {name}``; a retriever → ``retrieval {name}``.
"""

from __future__ import annotations

import inspect
from typing import Any

from opentelemetry import context as otel_context

from .._core._base import ObservatoryInstrumentor
from .._core._guard import report


class LangChainInstrumentor(ObservatoryInstrumentor):
    """Traces LangChain (``langchain-core`` ≥ 0.3) and LangGraph runs."""

    instruments = ("langchain-core >= 0.3.0",)

    def __init__(self) -> None:
        super().__init__()
        if not hasattr(self, "_handler"):
            self._handler: Any = None

    @property
    def handler(self) -> Any:
        """The callback handler (``None`` before the first ``instrument()``)."""
        return self._handler

    def _patch_all(self) -> None:
        from langchain_core.callbacks import manager as callbacks_manager
        from langchain_core.language_models import chat_models

        from ._handler import ObservatoryCallbackHandler

        if self._handler is None:
            self._handler = ObservatoryCallbackHandler(self.telemetry)
        handler = self._handler
        handler.enabled = True

        def configured(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            # Every run's callback manager comes from ``_configure`` (or from one that did, through
            # ``get_child`` and ``copy``, which keep its inheritable handlers): the handler joins there.
            manager = wrapped(*args, **kwargs)
            try:
                if handler.enabled and handler not in manager.handlers:
                    # New lists: the ones passed in may be shared with the caller.
                    manager.handlers = [*manager.handlers, handler]
                    if handler not in manager.inheritable_handlers:
                        manager.inheritable_handlers = [*manager.inheritable_handlers, handler]
            except Exception as exc:
                report("langchain.configure", exc)
            return manager

        def in_run_context(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            """A model's provider call runs in its own run's context (its span and inference slot)."""
            manager = kwargs.get("run_manager")
            ctx = handler.context_of(getattr(manager, "run_id", None)) if manager is not None else None
            if ctx is None:
                return wrapped(*args, **kwargs)
            token = otel_context.attach(ctx)
            try:
                return wrapped(*args, **kwargs)
            finally:
                otel_context.detach(token)

        def in_run_context_async(wrapped: Any, instance: Any, args: tuple[Any, ...],
                                 kwargs: dict[str, Any]) -> Any:
            manager = kwargs.get("run_manager")
            ctx = handler.context_of(getattr(manager, "run_id", None)) if manager is not None else None
            if ctx is None:
                return wrapped(*args, **kwargs)

            async def run() -> Any:
                token = otel_context.attach(ctx)
                try:
                    return await wrapped(*args, **kwargs)
                finally:
                    otel_context.detach(token)
            return run()

        def enter_model_run(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            async def run() -> Any:
                managers = await wrapped(*args, **kwargs)
                try:
                    if isinstance(managers, list) and len(managers) == 1:
                        handler.enter(managers[0].run_id)
                except Exception as exc:
                    report("langchain.enter", exc)
                return managers
            return run()

        self.wrap(callbacks_manager, "_configure", configured)
        for name in ("on_chat_model_start", "on_llm_start"):
            # Only where they are coroutine functions, as in every release we know: the wrapper
            # must return what the original returns.
            if inspect.iscoroutinefunction(getattr(callbacks_manager.AsyncCallbackManager, name, None)):
                self.wrap(callbacks_manager.AsyncCallbackManager, name, enter_model_run)
        self.wrap(chat_models.BaseChatModel, "_generate_with_cache", in_run_context)
        if inspect.iscoroutinefunction(getattr(chat_models.BaseChatModel, "_agenerate_with_cache", None)):
            self.wrap(chat_models.BaseChatModel, "_agenerate_with_cache", in_run_context_async)

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._handler is not None:
            self._handler.enabled = False  # managers created before keep it, inert
        super()._uninstrument(**kwargs)
