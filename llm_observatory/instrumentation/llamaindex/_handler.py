"""LlamaIndex's dispatcher spans and events → OpenTelemetry spans.

LlamaIndex opens a dispatcher span for every instrumented method (dozens per query). We give an
OpenTelemetry span to those that mean something to a user (query and chat engines, retrievers,
node postprocessors, synthesizers, tools, workflows and agents); the others pass their parent's
context on to their children. Model calls and embeddings come from LlamaIndex's *events*
(``LLMChatStartEvent`` … ``LLMChatEndEvent``), which also arrive for streams, after the method
that returned the stream has exited.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from ... import semconv as sc
from ...pricing import tokens
from .._core._attributes import start_span
from .._core._framework import (
    MAX_UNITS,
    ContextStack,
    Unit,
    capture_query,
    captured,
    end_unit,
    forget_oldest,
    remember,
)
from .._core._guard import report
from .._core._inference import Inference, clock
from .._core._messages import field, parse_arguments
from .._core._metrics import later
from .._core._suppression import SLOT_KEY, InferenceSlot, with_span
from .._core._telemetry import Telemetry
from . import _content as li

_STREAMING_KINDS = frozenset({li.ENGINE, li.SYNTHESIZER})
_INTERNAL = SpanKind.INTERNAL
_CLIENT = SpanKind.CLIENT
#: Set in the context of a model call or embedding of ours: a nested one (``chat`` → ``complete``)
#: is the same call.
_MODEL_KEY = otel_context.create_key("llm_observatory.llamaindex_model")
#: Set in the context of a query/chat engine or workflow span: a nested one is not top-level.
_WORKFLOW_KEY = otel_context.create_key("llm_observatory.llamaindex_workflow")
_IN_WORKFLOW = {_WORKFLOW_KEY: True}


class _Node:
    """A LlamaIndex dispatcher span: the context its children start in, and its unit if it has one."""

    __slots__ = ("ctx", "instance", "kind", "unit")

    def __init__(self, ctx: Context, unit: Unit | None, kind: str | None, instance: Any) -> None:
        self.ctx = ctx
        self.unit = unit
        self.kind = kind
        self.instance = instance


class Tracker:
    """The state behind the span and event handlers registered on LlamaIndex's root dispatcher."""

    def __init__(self, telemetry: Callable[[], Telemetry]) -> None:
        self._telemetry = telemetry
        self._nodes: dict[str, _Node] = {}
        self._models: dict[str, Unit] = {}
        #: Dispatcher spans whose children inherit a model call's context while it runs, and
        #: the context they had before it.
        self._restore: dict[str, tuple[_Node, Context]] = {}
        self._stack = ContextStack()
        self.enabled = True

    # --- dispatcher spans -------------------------------------------------------------------
    def span_enter(self, id_: str, bound_args: Any, instance: Any, parent_id: str | None) -> None:
        if not self.enabled:
            return
        nodes = self._nodes
        parent = nodes.get(parent_id) if parent_id is not None else None
        parent_ctx = parent.ctx if parent is not None else otel_context.get_current()
        kind = li.span_kind(instance, id_)
        if kind is None or (parent is not None and parent.kind == kind and parent.instance is instance):
            # Not a span of its own, or the same work one level down (``__call__`` → ``call``).
            # (Most of a query's dispatcher spans come here: this path is kept short.)
            nodes[id_] = _Node(parent_ctx, None, kind, instance)
            if len(nodes) > MAX_UNITS:
                forget_oldest(nodes)
            return
        tel = self._telemetry()
        workflow = kind in _WORKFLOW_KINDS
        nested = workflow and bool(parent_ctx.get(_WORKFLOW_KEY))
        key = (type(instance), id_.partition("-")[0], nested)
        shape = _shapes.get(key)
        if shape is None:
            shape = _shape(instance, kind, key[1].rpartition(".")[2], nested)
            if shape.cacheable and len(_shapes) < 1024:
                _shapes[key] = shape
        span = start_span(tel.tracer, shape.span_name, parent_ctx, shape.span_kind, dict(shape.attributes))
        ctx = with_span(parent_ctx, span, _IN_WORKFLOW if workflow else None)
        unit = Unit(tel, span, ctx, kind, shape.name)
        unit.metric = shape.metric
        if tel.capture_content and span.is_recording():
            inputs = li.inputs_of(bound_args)
            if inputs is not None:
                span.set_attribute(sc.GEN_AI_TOOL_CALL_ARGUMENTS if kind == li.TOOL else sc.LLM_INPUT,
                                   captured(unit, inputs))
        stale = remember(self._nodes, id_, _Node(ctx, unit, kind, instance))
        if stale is not None and stale.unit is not None:
            end_unit(stale.unit, None)
        self._stack.attach(unit)

    def span_exit(self, id_: str, result: Any, error: BaseException | None) -> None:
        node = self._nodes.pop(id_, None)
        model = self._models.get(id_)
        if model is not None and error is not None:  # a model call that raised (not streamed)
            self._end_model(id_, error)
        if node is None or node.unit is None or node.unit.inference is not None:
            return
        unit = node.unit
        current = otel_context.get_current()  # this span's, or a model call's it started and left running
        self._stack.release(unit)
        if error is None and unit.kind in _STREAMING_KINDS and li.is_streaming_response(result):
            # A model call started here and still streaming ends when its stream does, or, if the
            # application drops the response unread, when the stream is garbage-collected.
            # (Only a model call whose context is the current one: other threads' calls are not ours.)
            running = [span_id for span_id, model in self._models.items() if model.ctx is current]
            li.keep_stream_context(result, current, lambda: self._abandon(running))
        end_unit(unit, error, None if error is not None or not (unit.tel.capture_content or unit.kind == li.TOOL)
                 else _outputs(result))

    # --- events ------------------------------------------------------------------------------
    def handle(self, event: Any) -> None:
        if not self.enabled:
            return
        handler = _EVENTS.get(type(event).__name__)
        if handler is not None:
            try:
                handler(self, event)
            except Exception as exc:
                report(f"llamaindex.{type(event).__name__}", exc)

    def _unit_of(self, span_id: str | None) -> Unit | None:
        node = self._nodes.get(span_id) if span_id else None
        return node.unit if node is not None else None

    def _model_start(self, event: Any, operation: str) -> None:
        span_id = event.span_id or ""
        node = self._nodes.get(span_id)
        current = otel_context.get_current()
        parent_ctx = node.ctx if node is not None else current
        if parent_ctx.get(_MODEL_KEY) or current.get(_MODEL_KEY):
            return  # a nested call of the same model call (``chat`` implemented with ``complete``)
        tel = self._telemetry()
        model_dict = li.attr(event, "model_dict") or {}
        instance = node.instance if node is not None else None
        provider = li.provider_of(instance, model_dict)
        model = li.model_of(model_dict)
        attrs = li.request_attributes(model_dict)
        attrs[sc.LLM_FRAMEWORK] = "llamaindex"
        streamed = span_id.partition("-")[0].rpartition(".")[2].startswith(("stream", "astream"))
        inference = Inference(tel, operation, provider, model, attributes=attrs, parent=parent_ctx, stream=streamed)
        slot = inference.slot = InferenceSlot()
        if operation == sc.Operation.EMBEDDINGS:
            inference.estimate = _embedding_estimate(inference, provider, model)
        else:
            if tel.capture_content:
                inference.input_messages = li.prompt_of(event)
            inference.estimate = _chat_estimate(inference, event, provider, model)
        ctx = with_span(parent_ctx, inference.span, {SLOT_KEY: slot, _MODEL_KEY: True})
        unit = Unit(tel, inference.span, ctx, operation, model or "")
        unit.inference = inference
        if node is not None:
            self._restore[span_id] = (node, node.ctx)
            node.ctx = ctx
        stale = remember(self._models, span_id, unit)
        if stale is not None:
            end_unit(stale, None, cut=True)
        self._stack.attach(unit)

    def _model_chunk(self, event: Any) -> None:
        self._stack.chunk(self._models.get(event.span_id or ""))

    def _model_end(self, event: Any) -> None:
        unit = self._models.get(event.span_id or "")
        if unit is None or unit.inference is None:
            return
        try:
            li.model_result(unit.inference, event)
        except Exception as exc:
            report("llamaindex.model_end", exc)
        self._end_model(event.span_id or "", None)

    def _end_model(self, span_id: str, error: BaseException | None, cut: bool = False,
                   later_at: tuple[int, int] | None = None) -> None:
        """End a model call; with ``later_at``, its span by the background thread, as of then
        (its context is left here and now: only this thread can)."""
        unit = self._models.pop(span_id, None)
        restore = self._restore.pop(span_id, None)
        if restore is not None:
            restore[0].ctx = restore[1]
        if unit is not None:
            self._stack.release(unit)
            if later_at is None:
                end_unit(unit, error, cut=cut)
            else:
                later(partial(end_unit, unit, error, cut=cut, at=later_at))

    def _abandon(self, span_ids: list[str]) -> None:
        """A streamed response was dropped before its stream ended (called by a finalizer): end
        its model calls, cut, their spans as of now by the background thread (the garbage
        collector may run this inside a lock their ends would take)."""
        at = clock()
        try:
            for span_id in span_ids:
                self._end_model(span_id, None, cut=True, later_at=at)
        except Exception as exc:
            report("llamaindex.abandon", exc)

    def _exception(self, event: Any) -> None:
        error = getattr(event, "exception", None)
        if isinstance(error, BaseException) and (event.span_id or "") in self._models:
            self._end_model(event.span_id or "", error)

    def _retrieval_start(self, event: Any) -> None:
        unit = self._unit_of(event.span_id)
        if unit is not None:
            capture_query(unit, li.query_text(getattr(event, "str_or_query_bundle", None)))

    def _retrieval_end(self, event: Any) -> None:
        unit = self._unit_of(event.span_id)
        if unit is not None and unit.span is not None:
            nodes = list(getattr(event, "nodes", None) or ())
            unit.span.set_attribute(sc.LLM_RETRIEVAL_DOCUMENT_COUNT, len(nodes))
            if unit.tel.capture_content:
                unit.span.set_attribute(sc.GEN_AI_RETRIEVAL_DOCUMENTS, captured(unit, [li.document(n) for n in nodes]))

    def _rerank_start(self, event: Any) -> None:
        unit = self._unit_of(event.span_id)
        if unit is not None and unit.span is not None:
            attrs: dict[str, Any] = {}
            if getattr(event, "model_name", None):
                attrs[sc.GEN_AI_REQUEST_MODEL] = str(event.model_name)
            if isinstance(getattr(event, "top_n", None), int):
                attrs[sc.LLM_RERANK_TOP_N] = event.top_n
            unit.span.set_attributes(attrs)


_EVENTS: dict[str, Callable[[Tracker, Any], None]] = {
    "LLMChatStartEvent": lambda t, e: t._model_start(e, sc.Operation.CHAT),
    "LLMCompletionStartEvent": lambda t, e: t._model_start(e, sc.Operation.TEXT_COMPLETION),
    "EmbeddingStartEvent": lambda t, e: t._model_start(e, sc.Operation.EMBEDDINGS),
    "LLMChatInProgressEvent": Tracker._model_chunk,
    "LLMCompletionInProgressEvent": Tracker._model_chunk,
    "LLMChatEndEvent": Tracker._model_end,
    "LLMCompletionEndEvent": Tracker._model_end,
    "EmbeddingEndEvent": Tracker._model_end,
    "ExceptionEvent": Tracker._exception,
    "RetrievalStartEvent": Tracker._retrieval_start,
    "RetrievalEndEvent": Tracker._retrieval_end,
    "ReRankStartEvent": Tracker._rerank_start,
}


class _Shape(NamedTuple):
    """What a mapped dispatcher span's OpenTelemetry span looks like at its start."""

    span_name: str
    span_kind: SpanKind
    attributes: dict[str, Any]
    name: str
    metric: str | None
    #: The same for every instance of the class (not a tool's or an agent's own name).
    cacheable: bool


#: Shapes by (class, ``Class.method``, nested in a workflow).
_shapes: dict[tuple[type, str, bool], _Shape] = {}
_WORKFLOW_KINDS = frozenset({li.ENGINE, li.WORKFLOW})


def _shape(instance: Any, kind: str, method: str, nested: bool) -> _Shape:
    name = li.name_of(instance, kind)
    attrs: dict[str, Any] = {sc.LLM_FRAMEWORK: "llamaindex"}
    metric = None
    cacheable = True
    if kind in _WORKFLOW_KINDS:
        if nested:
            span_name = f"{name}.{method}"
            attrs[sc.LLM_LLAMAINDEX_KIND] = kind
        elif li.is_agent(instance):
            span_name = f"{sc.Operation.INVOKE_AGENT} {name}"
            metric = sc.Operation.INVOKE_AGENT
            attrs.update({sc.GEN_AI_OPERATION_NAME: metric, sc.GEN_AI_AGENT_NAME: name})
            cacheable = False
        else:
            span_name = f"{sc.Operation.INVOKE_WORKFLOW} {name}"
            metric = sc.Operation.INVOKE_WORKFLOW
            attrs.update({sc.GEN_AI_OPERATION_NAME: metric, sc.GEN_AI_WORKFLOW_NAME: name})
    elif kind == li.RETRIEVER:
        span_name = f"{sc.Operation.RETRIEVAL} {name}"
        attrs.update({sc.GEN_AI_OPERATION_NAME: sc.Operation.RETRIEVAL, sc.GEN_AI_DATA_SOURCE_ID: name})
    elif kind == li.TOOL:
        span_name = f"{sc.Operation.EXECUTE_TOOL} {name}"
        metric = sc.Operation.EXECUTE_TOOL
        attrs.update({sc.GEN_AI_OPERATION_NAME: metric, sc.GEN_AI_TOOL_NAME: name, sc.GEN_AI_TOOL_TYPE: "function"})
        description = li.tool_description(instance)
        if description:
            attrs[sc.GEN_AI_TOOL_DESCRIPTION] = description
        cacheable = False
    else:  # synthesizer, postprocessor (re-ranker)
        span_name = f"{kind} {name}"
        attrs[sc.LLM_LLAMAINDEX_KIND] = kind
    return _Shape(span_name, _CLIENT if kind == li.RETRIEVER else _INTERNAL, attrs, name, metric, cacheable)


def _outputs(result: Any) -> Callable[[Unit, Span], None]:
    def record(unit: Unit, span: Span) -> None:
        if unit.kind == li.TOOL:
            call_output = field(result, "raw_output", result)
            if unit.tel.capture_content:
                span.set_attribute(sc.GEN_AI_TOOL_CALL_RESULT, captured(unit, parse_arguments(
                    field(result, "content", None) if field(result, "content", None) is not None else call_output)))
        elif unit.tel.capture_content and not li.is_stream(result):
            span.set_attribute(sc.LLM_OUTPUT, captured(unit, li.output_of(result)))
    return record


def _chat_estimate(inference: Inference, event: Any, provider: str,
                   model: str | None) -> Callable[[], tuple[int | None, int | None]]:
    """Token estimates for a model that reports no usage; the prompt is read only if one is needed."""
    def estimate() -> tuple[int | None, int | None]:
        prompt = inference.input_messages or li.prompt_of(event)
        texts = [li.texts_of_message(m) for m in prompt]
        completion = sum(tokens.count_text(t, provider, model) for t in inference.state or ())
        return tokens.count_messages(texts, provider, model), completion
    return estimate


def _embedding_estimate(inference: Inference, provider: str,
                        model: str | None) -> Callable[[], tuple[int | None, int | None]]:
    def estimate() -> tuple[int | None, int | None]:
        return sum(tokens.count_text(t, provider, model) for t in inference.state or ()), None
    return estimate
