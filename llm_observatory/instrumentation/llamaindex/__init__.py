"""LlamaIndex instrumentation, through the instrumentation dispatcher of ``llama-index-core``.

A span handler and an event handler are registered on LlamaIndex's root dispatcher; uninstrumenting
removes them. Mapping (see ``docs/llamaindex.md``): query and chat engines → ``invoke_workflow
{name}``; workflows → ``invoke_workflow``, agents → ``invoke_agent``; retrievers → ``retrieval
{name}``; synthesizers and node postprocessors (re-rankers) → a span named after them; tools →
``execute_tool {name}``; LLM calls → ``chat {model}``/``text_completion {model}`` and embeddings →
``embeddings {model}``, counted once when a provider SDK we instrument runs beneath them.
"""

from __future__ import annotations

from typing import Any

from .._core._base import ObservatoryInstrumentor
from .._core._guard import report


def _handlers(tracker: Any) -> tuple[Any, Any]:
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler
    from llama_index.core.instrumentation.span import SimpleSpan
    from llama_index.core.instrumentation.span_handlers import BaseSpanHandler

    # The tracker's methods are reached through this closure, not through an attribute of the
    # handlers: those are pydantic models, where reading a private attribute costs microseconds,
    # and the dispatcher calls them some 40 times a query.
    enter, leave, handle = tracker.span_enter, tracker.span_exit, tracker.handle

    class ObservatorySpanHandler(BaseSpanHandler[SimpleSpan]):  # type: ignore[misc]
        """Hands LlamaIndex's span notices to the tracker; keeps no spans of its own."""

        @classmethod
        def class_name(cls) -> str:
            return "ObservatorySpanHandler"

        def span_enter(self, id_: str, bound_args: Any, instance: Any = None, parent_id: str | None = None,
                       tags: Any = None, **kwargs: Any) -> None:
            try:
                enter(id_, bound_args, instance, parent_id)
            except Exception as exc:
                report("llamaindex.span_enter", exc)

        def span_exit(self, id_: str, bound_args: Any, instance: Any = None, result: Any = None,
                      **kwargs: Any) -> None:
            try:
                leave(id_, result, None)
            except Exception as exc:
                report("llamaindex.span_exit", exc)

        def span_drop(self, id_: str, bound_args: Any, instance: Any = None, err: BaseException | None = None,
                      **kwargs: Any) -> None:
            try:
                leave(id_, None, err)
            except Exception as exc:
                report("llamaindex.span_drop", exc)

        def new_span(self, *args: Any, **kwargs: Any) -> None:
            return None

        def prepare_to_exit_span(self, *args: Any, **kwargs: Any) -> None:
            return None

        def prepare_to_drop_span(self, *args: Any, **kwargs: Any) -> None:
            return None

    class ObservatoryEventHandler(BaseEventHandler):  # type: ignore[misc]
        """Hands LlamaIndex's events to the tracker."""

        @classmethod
        def class_name(cls) -> str:
            return "ObservatoryEventHandler"

        def handle(self, event: Any, **kwargs: Any) -> None:
            try:
                handle(event)
            except Exception as exc:
                report("llamaindex.event", exc)

    return ObservatorySpanHandler(), ObservatoryEventHandler()


class LlamaIndexInstrumentor(ObservatoryInstrumentor):
    """Traces LlamaIndex (``llama-index-core`` ≥ 0.12) query engines, chat engines, retrievers,
    synthesizers, re-rankers, LLMs, embeddings, tools, workflows and agents."""

    instruments = ("llama-index-core >= 0.12.0",)

    def __init__(self) -> None:
        super().__init__()
        if not hasattr(self, "_tracker"):
            self._tracker: Any = None
            self._registered: tuple[Any, Any] | None = None

    def _patch_all(self) -> None:
        from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]

        from ._handler import Tracker

        if self._tracker is None:
            self._tracker = Tracker(self.telemetry)
        self._tracker.enabled = True
        span_handler, event_handler = _handlers(self._tracker)
        dispatcher = get_dispatcher()
        dispatcher.add_span_handler(span_handler)
        dispatcher.add_event_handler(event_handler)
        self._registered = (span_handler, event_handler)

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._registered is not None:
            from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]

            dispatcher = get_dispatcher()
            span_handler, event_handler = self._registered
            dispatcher.span_handlers[:] = [h for h in dispatcher.span_handlers if h is not span_handler]
            dispatcher.event_handlers[:] = [h for h in dispatcher.event_handlers if h is not event_handler]
            self._registered = None
        if self._tracker is not None:
            self._tracker.enabled = False
        super()._uninstrument(**kwargs)
