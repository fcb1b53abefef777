"""The callback handler that turns LangChain runs into spans, keyed by run id.

Parents come from ``parent_run_id`` (so thread pools, ``batch`` and async callbacks cannot
mix runs up), and from the OpenTelemetry context for a run with no LangChain parent. While
a run executes, its span is made current, so code beneath it (a provider SDK call, a
decorated function, a manual span) nests under it. The handler is ``run_inline``: LangChain
then calls it in the run's own context, even for async code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import context as otel_context
from opentelemetry.trace import Span, SpanKind

from ... import semconv as sc
from ...pricing import tokens
from .._core._attributes import start_span
from .._core._framework import ContextStack, Unit, capture_query, captured, end_unit, remember
from .._core._guard import report
from .._core._inference import Inference
from .._core._messages import parse_arguments
from .._core._suppression import SLOT_KEY, InferenceSlot, with_span
from .._core._telemetry import Telemetry
from . import _content as lc

if TYPE_CHECKING:
    from opentelemetry.context import Context

_INTERNAL = SpanKind.INTERNAL
_CLIENT = SpanKind.CLIENT
_HIDDEN_TAG = "langsmith:hidden"
#: Top-level runs with these names are agents.
_AGENT_NAMES = frozenset({"AgentExecutor"})
#: A LangGraph graph with a node of one of these names is an agent.
_AGENT_NODES = frozenset({"agent"})
#: LangGraph's control-flow exceptions are not errors.
_CONTROL_FLOW = frozenset({"GraphInterrupt", "NodeInterrupt", "ParentCommand", "GraphBubbleUp"})


class ObservatoryCallbackHandler(BaseCallbackHandler):  # type: ignore[misc]
    """Added to every LangChain callback manager by :class:`LangChainInstrumentor`."""

    run_inline = True
    raise_error = False

    def __init__(self, telemetry: Callable[[], Telemetry]) -> None:
        super().__init__()
        self._telemetry = telemetry
        self._runs: dict[UUID, Unit] = {}
        self._stack = ContextStack()
        self.enabled = True

    # --- bookkeeping -----------------------------------------------------------------------
    def _parent(self, parent_run_id: UUID | None) -> tuple[Context, bool]:
        """The context a new run's span starts in, and whether its parent is a LangChain run."""
        if parent_run_id is not None:
            parent = self._runs.get(parent_run_id)
            if parent is not None:
                return parent.ctx, True
        return otel_context.get_current(), False

    def _track(self, run_id: UUID, run: Unit) -> None:
        stale = remember(self._runs, run_id, run)
        if stale is not None:
            end_unit(stale, None)

    def enter(self, run_id: UUID) -> None:
        """Make a model run's span current in the caller's context, if it is not yet.

        Older langchain-core calls async ``on_chat_model_start`` handlers in a task of their own,
        so what the handler attached stays in that task; the run's generator enters it here.
        """
        run = self._runs.get(run_id)
        if run is not None:
            self._stack.enter(run)

    def _start(self, run_id: UUID, parent_run_id: UUID | None, kind: str, name: str,
               span_name: str, span_kind: SpanKind, attrs: dict[str, Any],
               tags: list[str] | None, metadata: dict[str, Any] | None) -> Unit | None:
        if not self.enabled:
            return None
        parent_ctx, _ = self._parent(parent_run_id)
        tel = self._telemetry()
        if tags and _HIDDEN_TAG in tags:
            run = Unit(tel, None, parent_ctx, kind, name)  # children attach to the visible parent
            self._track(run_id, run)
            return run
        lc.tags_and_metadata(tags, metadata, attrs)
        span = start_span(tel.tracer, span_name, parent_ctx, span_kind, attrs)
        run = Unit(tel, span, with_span(parent_ctx, span), kind, name)
        self._track(run_id, run)
        return run

    def _end(self, run_id: UUID, error: BaseException | None = None,
             outputs: Callable[[Unit, Span], None] | None = None) -> None:
        run = self._runs.pop(run_id, None)
        if run is not None:
            self._stack.release(run)
            end_unit(run, error, outputs, _CONTROL_FLOW)

    def context_of(self, run_id: UUID | None) -> Context | None:
        """The context a model run's provider call belongs in (see the ``_generate_with_cache`` wrapper)."""
        run = self._runs.get(run_id) if run_id is not None else None
        return run.ctx if run is not None and run.inference is not None else None

    # --- chains, agents, LangGraph graphs and nodes -----------------------------------------
    def on_chain_start(self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID,
                       parent_run_id: UUID | None = None, tags: list[str] | None = None,
                       metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        try:
            name = lc.run_name(serialized, kwargs, "chain")
            attrs: dict[str, Any] = {sc.LLM_FRAMEWORK: "langchain"}
            node = metadata.get("langgraph_node") if metadata else None
            metric = None
            if node is not None and node == name:
                attrs[sc.LLM_FRAMEWORK] = "langgraph"
                attrs[sc.LLM_LANGGRAPH_NODE] = name
                step = metadata.get("langgraph_step") if metadata else None
                if isinstance(step, int):
                    attrs[sc.LLM_LANGGRAPH_STEP] = step
                attrs[sc.LLM_LANGCHAIN_RUN_TYPE] = "node"
                span_name, kind = name, "node"
                if name in _AGENT_NODES and parent_run_id is not None:
                    self._becomes_agent(self._runs.get(parent_run_id))
            elif parent_run_id is None or parent_run_id not in self._runs:
                agent = metadata.get("lc_agent_name") if metadata else None
                if agent or name in _AGENT_NAMES:
                    name = str(agent or name)
                    kind = metric = sc.Operation.INVOKE_AGENT
                    attrs[sc.GEN_AI_OPERATION_NAME] = sc.Operation.INVOKE_AGENT
                    attrs[sc.GEN_AI_AGENT_NAME] = name
                else:
                    kind = metric = sc.Operation.INVOKE_WORKFLOW
                    attrs[sc.GEN_AI_OPERATION_NAME] = sc.Operation.INVOKE_WORKFLOW
                    attrs[sc.GEN_AI_WORKFLOW_NAME] = name
                span_name = f"{kind} {name}"
            else:
                attrs[sc.LLM_LANGCHAIN_RUN_TYPE] = "chain"
                span_name, kind = name, "chain"
            run = self._start(run_id, parent_run_id, kind, name, span_name, _INTERNAL, attrs, tags, metadata)
            if run is None or run.span is None:
                return
            run.metric = metric
            if run.tel.capture_content and run.span.is_recording():
                run.span.set_attribute(sc.LLM_INPUT, captured(run, inputs))
            self._stack.attach(run)
        except Exception as exc:
            report("langchain.chain_start", exc)

    @staticmethod
    def _becomes_agent(graph: Unit | None) -> None:
        """A graph with an ``agent`` node (LangGraph's prebuilt ReAct agent) is an agent."""
        if graph is None or graph.span is None or graph.kind != sc.Operation.INVOKE_WORKFLOW:
            return
        graph.kind = graph.metric = sc.Operation.INVOKE_AGENT
        graph.span.update_name(f"{sc.Operation.INVOKE_AGENT} {graph.name}")
        graph.span.set_attributes({sc.GEN_AI_OPERATION_NAME: sc.Operation.INVOKE_AGENT,
                                   sc.GEN_AI_AGENT_NAME: graph.name})

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._end(run_id, None, _chain_outputs(outputs))
        except Exception as exc:
            report("langchain.chain_end", exc)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._end(run_id, error)
        except Exception as exc:
            report("langchain.chain_error", exc)

    def on_agent_action(self, action: Any, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            run = self._runs.get(run_id)
            if run is not None and run.span is not None:
                run.span.add_event("gen_ai.agent.action", {sc.GEN_AI_TOOL_NAME: str(getattr(action, "tool", ""))})
        except Exception as exc:
            report("langchain.agent_action", exc)

    # --- chat models and LLMs ---------------------------------------------------------------
    def on_chat_model_start(self, serialized: dict[str, Any] | None, messages: list[list[Any]], *,
                            run_id: UUID, parent_run_id: UUID | None = None, tags: list[str] | None = None,
                            metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        try:
            self._model_start(serialized, messages[0] if messages else [], True, run_id, parent_run_id,
                              tags, metadata, kwargs)
        except Exception as exc:
            report("langchain.chat_model_start", exc)

    def on_llm_start(self, serialized: dict[str, Any] | None, prompts: list[str], *, run_id: UUID,
                     parent_run_id: UUID | None = None, tags: list[str] | None = None,
                     metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        try:
            self._model_start(serialized, prompts[:1], False, run_id, parent_run_id, tags, metadata, kwargs)
        except Exception as exc:
            report("langchain.llm_start", exc)

    def _model_start(self, serialized: dict[str, Any] | None, prompt: list[Any], chat: bool, run_id: UUID,
                     parent_run_id: UUID | None, tags: list[str] | None, metadata: dict[str, Any] | None,
                     kwargs: dict[str, Any]) -> None:
        if not self.enabled:
            return
        parent_ctx, _ = self._parent(parent_run_id)
        tel = self._telemetry()
        params = kwargs.get("invocation_params") or {}
        provider = lc.provider_of(metadata, serialized)
        model = lc.model_of(metadata, params)
        attrs = lc.request_attributes(metadata, params)
        attrs[sc.LLM_FRAMEWORK] = "langchain"
        attrs[sc.LLM_LANGCHAIN_RUN_TYPE] = "chat_model" if chat else "llm"
        lc.tags_and_metadata(tags, metadata, attrs)
        operation = sc.Operation.CHAT if chat else sc.Operation.TEXT_COMPLETION
        inference = Inference(tel, operation, provider, model, attributes=attrs, parent=parent_ctx)
        slot = inference.slot = InferenceSlot()
        if tel.capture_content:
            if chat:
                inference.input_messages = [lc.chat_message(m) for m in prompt]
            else:
                inference.input_messages = [{"role": "user", "parts": [{"type": "text", "content": p}]}
                                            for p in prompt]
        inference.estimate = _estimator(inference, prompt, provider, model)
        ctx = with_span(parent_ctx, inference.span, {SLOT_KEY: slot})
        run = Unit(tel, inference.span, ctx, "model", model or "")
        run.inference = inference
        self._track(run_id, run)
        self._stack.attach(run)

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._stack.chunk(self._runs.get(run_id))

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if run is not None and run.inference is not None:
            try:
                _model_result(run.inference, response)
            except Exception as exc:
                report("langchain.llm_end", exc)
        try:
            self._end(run_id)
        except Exception as exc:
            report("langchain.llm_end", exc)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._end(run_id, error)
        except Exception as exc:
            report("langchain.llm_error", exc)

    # --- tools -------------------------------------------------------------------------------
    def on_tool_start(self, serialized: dict[str, Any] | None, input_str: str, *, run_id: UUID,
                      parent_run_id: UUID | None = None, tags: list[str] | None = None,
                      metadata: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None,
                      **kwargs: Any) -> None:
        try:
            name = lc.run_name(serialized, kwargs, "tool")
            attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: sc.Operation.EXECUTE_TOOL, sc.GEN_AI_TOOL_NAME: name,
                                     sc.GEN_AI_TOOL_TYPE: "function", sc.LLM_FRAMEWORK: "langchain"}
            description = serialized.get("description") if serialized else None
            if isinstance(description, str) and description:
                attrs[sc.GEN_AI_TOOL_DESCRIPTION] = description
            call_id = kwargs.get("tool_call_id")
            if isinstance(call_id, str) and call_id:
                attrs[sc.GEN_AI_TOOL_CALL_ID] = call_id
            run = self._start(run_id, parent_run_id, "tool", name, f"{sc.Operation.EXECUTE_TOOL} {name}",
                              _INTERNAL, attrs, tags, metadata)
            if run is None or run.span is None:
                return
            run.metric = sc.Operation.EXECUTE_TOOL
            run.has_call_id = sc.GEN_AI_TOOL_CALL_ID in attrs
            if run.tel.capture_content and run.span.is_recording():
                arguments = inputs if inputs is not None else parse_arguments(input_str)
                run.span.set_attribute(sc.GEN_AI_TOOL_CALL_ARGUMENTS, captured(run, arguments))
            self._stack.attach(run)
        except Exception as exc:
            report("langchain.tool_start", exc)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._end(run_id, None, lambda run, span: _tool_result(run, span, output))
        except Exception as exc:
            report("langchain.tool_end", exc)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._end(run_id, error)
        except Exception as exc:
            report("langchain.tool_error", exc)

    # --- retrievers --------------------------------------------------------------------------
    def on_retriever_start(self, serialized: dict[str, Any] | None, query: str, *, run_id: UUID,
                           parent_run_id: UUID | None = None, tags: list[str] | None = None,
                           metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        try:
            name = lc.run_name(serialized, kwargs, "retriever")
            attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: sc.Operation.RETRIEVAL,
                                     sc.GEN_AI_DATA_SOURCE_ID: name, sc.LLM_FRAMEWORK: "langchain"}
            run = self._start(run_id, parent_run_id, "retriever", name, f"{sc.Operation.RETRIEVAL} {name}",
                              _CLIENT, attrs, tags, metadata)
            if run is None or run.span is None:
                return
            if run.span.is_recording():
                capture_query(run, query)
            self._stack.attach(run)
        except Exception as exc:
            report("langchain.retriever_start", exc)

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._end(run_id, None, lambda run, span: _documents(run, span, documents))
        except Exception as exc:
            report("langchain.retriever_end", exc)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self._end(run_id, error)
        except Exception as exc:
            report("langchain.retriever_error", exc)


# --- outputs -------------------------------------------------------------------------------------
def _chain_outputs(outputs: Any) -> Callable[[Unit, Span], None]:
    def record(run: Unit, span: Span) -> None:
        if run.tel.capture_content:
            span.set_attribute(sc.LLM_OUTPUT, captured(run, outputs))
    return record


def _tool_result(run: Unit, span: Span, output: Any) -> None:
    call_id = getattr(output, "tool_call_id", None)  # older langchain-core names it only here
    if isinstance(call_id, str) and call_id and not run.has_call_id:
        span.set_attribute(sc.GEN_AI_TOOL_CALL_ID, call_id)
    if run.tel.capture_content:
        span.set_attribute(sc.GEN_AI_TOOL_CALL_RESULT, captured(run, lc.tool_output(output)))


def _documents(run: Unit, span: Span, documents: Any) -> None:
    docs = list(documents or ())
    span.set_attribute(sc.LLM_RETRIEVAL_DOCUMENT_COUNT, len(docs))
    if run.tel.capture_content:
        span.set_attribute(sc.GEN_AI_RETRIEVAL_DOCUMENTS,
                           captured(run, [lc.document(d, True) for d in docs]))


def _estimator(inference: Inference, prompt: list[Any], provider: str,
               model: str | None) -> Callable[[], tuple[int | None, int | None]]:
    """Token estimates for a model that reports no usage (fake and local models)."""
    def estimate() -> tuple[int | None, int | None]:
        prompt_tokens = tokens.count_messages((lc.texts_of(m) for m in prompt), provider, model)
        texts: list[str] = []
        for generation in inference.state or ():  # the generations, read only now that they are needed
            message = getattr(generation, "message", None)
            texts.extend(lc.texts_of(message) if message is not None else [getattr(generation, "text", "") or ""])
        completion = sum(tokens.count_text(t, provider, model) for t in texts)
        return prompt_tokens, completion
    return estimate


def _model_result(inference: Inference, response: Any) -> None:
    """Usage, finish reasons, response model and output messages from an ``LLMResult``."""
    generations = list((getattr(response, "generations", None) or [[]])[0])
    reasons = [lc.finish_reason_of(g) for g in generations]
    if any(reasons):
        inference.finish_reasons = reasons
    inference.choice_count = max(1, len(generations))
    usage, llm_output = lc.usage_from_result(response)
    if usage:
        inference.input_tokens = usage.get("input_tokens")
        inference.output_tokens = usage.get("output_tokens")
        in_details = usage.get("input_token_details") or {}
        out_details = usage.get("output_token_details") or {}
        if in_details.get("cache_read") is not None:
            inference.cache_read_tokens = in_details["cache_read"]
        write = in_details.get("cache_creation")
        five, hour = in_details.get("ephemeral_5m_input_tokens"), in_details.get("ephemeral_1h_input_tokens")
        if isinstance(five, int) or isinstance(hour, int):
            # langchain-anthropic moves the writes into their two lifetimes, and zeroes cache_creation
            write = max(write or 0, (five or 0) + (hour or 0))
        if write is not None:
            inference.cache_write_tokens = write
        if out_details.get("reasoning") is not None:
            inference.reasoning_tokens = out_details["reasoning"]
        inference.add_extra_usage(cache_write_1h_tokens=hour, input_audio_tokens=in_details.get("audio"),
                                  output_audio_tokens=out_details.get("audio"))
    else:
        counts = llm_output.get("token_usage") or llm_output.get("usage") or {}
        if isinstance(counts, dict):
            inference.input_tokens = counts.get("prompt_tokens", counts.get("input_tokens"))
            inference.output_tokens = counts.get("completion_tokens", counts.get("output_tokens"))
    first = generations[0] if generations else None
    msg = getattr(first, "message", None)
    meta = getattr(msg, "response_metadata", None) or {}
    model = meta.get("model_name") or meta.get("model") or llm_output.get("model_name")
    if isinstance(model, str) and model:
        inference.response_model = model
    response_id = meta.get("id") or getattr(msg, "id", None)
    if isinstance(response_id, str) and response_id and not response_id.startswith(("run-", "lc_run")):
        inference.response_id = response_id
    inference.state = generations  # an estimate, if one is needed, reads their text
    if inference.tel.capture_content:
        outputs = []
        for generation, reason in zip(generations, reasons, strict=False):
            gmsg = getattr(generation, "message", None)
            if gmsg is not None:
                out = lc.chat_message(gmsg)
                out["role"] = "assistant"
                out["finish_reason"] = reason or ""
            else:
                text = getattr(generation, "text", "") or ""
                out = {"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": reason or ""}
            outputs.append(out)
        if outputs:
            inference.output_messages = outputs
