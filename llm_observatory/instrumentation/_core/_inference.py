"""One model call, provider-agnostic: the span, its attributes, its cost and its metrics.

An adapter creates an :class:`Inference` when the call starts, fills its public fields from
the response (or from stream chunks), and calls :meth:`Inference.end` once. ``end`` is safe to
call more than once and never raises.
"""

from __future__ import annotations

import builtins
import os
import sys
import time
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ... import budgets
from ... import semconv as sc
from ...pricing import tokens
from . import _shutdown
from ._attributes import set_attributes, start_span
from ._guard import report
from ._messages import dump_json
from ._metrics import later
from ._suppression import ACTIVE_KEY, InferenceSlot, claim_slot, with_span
from ._telemetry import Telemetry

_CLIENT = SpanKind.CLIENT
#: ``Inference.extra_usage`` keys (the price table's ``EXTRA_UNITS``) → their span attributes.
EXTRA_USAGE_ATTRIBUTES = {
    "cache_write_1h_tokens": sc.LLM_USAGE_CACHE_WRITE_1H_INPUT_TOKENS,
    "input_audio_tokens": sc.GEN_AI_USAGE_AUDIO_INPUT_TOKENS,
    "output_audio_tokens": sc.GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS,
    "web_searches": sc.LLM_USAGE_WEB_SEARCHES,
    "storage_searches": sc.LLM_USAGE_FILE_SEARCHES,
}
_ACTIVE = {ACTIVE_KEY: True}
#: What an inference's ``_once`` yields, once: its end is claimed by ``next()``, one C call, which
#: two threads ending it at the same moment (a call's own and the shutdown's) cannot both win.
ONCE = (True,)
_error_type_cache: dict[type, str] = {}

#: The inferences whose span is open, by ``id`` (weakly: a handler that failed after starting one
#: must not keep it alive): ended by :func:`end_unfinished` when telemetry shuts down. A forked
#: child starts with none: the parent's calls are the parent's to end.
_open: dict[int, weakref.ref[Inference]] = {}
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_open.clear)


#: The largest count an attribute can carry (OTLP's int64).
MAX_COUNT = 2**63 - 1


def token_count(n: Any) -> int | None:
    """A token count as a provider should send it: a non-negative int (an integral float is taken
    as one). Anything else (a string, a list, a negative number, NaN, a count past int64) is no
    count: an odd usage field is left out rather than let it fail the span's end or the metrics."""
    if type(n) is int:
        return n if 0 <= n <= MAX_COUNT else None
    if type(n) is float and n.is_integer() and 0 <= n <= MAX_COUNT:
        return int(n)
    return None


def clock() -> tuple[int, int]:
    """Now, as :meth:`Inference.end` takes it: ``(time.time_ns(), time.perf_counter_ns())``."""
    return time.time_ns(), time.perf_counter_ns()


def error_type(exc: BaseException) -> str:
    """A low-cardinality ``error.type``: ``openai.NotFoundError``, ``TimeoutError``, ..."""
    cls = type(exc)
    name = _error_type_cache.get(cls)
    if name is None:
        module = cls.__module__
        if module == "builtins" or getattr(builtins, cls.__qualname__, None) is cls:
            name = cls.__qualname__
        else:
            top = module.split(".", 1)[0]
            package = sys.modules.get(top)
            if package is not None and getattr(package, cls.__qualname__, None) is cls:
                name = f"{top}.{cls.__qualname__}"
            else:
                name = f"{module}.{cls.__qualname__}"
        _error_type_cache[cls] = name
    return name


def mark_error(span: Any, error: BaseException, attrs: dict[str, Any] | None = None) -> str:
    """Record ``error`` on ``span``: status ERROR, an exception event, and ``error.type`` (into
    ``attrs`` when given, for the caller's one ``set_attributes``, else on the span). Returns the type."""
    etype = error_type(error)
    if attrs is None:
        span.set_attribute(sc.ERROR_TYPE, etype)
    else:
        attrs[sc.ERROR_TYPE] = etype
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:512]))
    span.record_exception(error)
    return etype


class Inference:
    """The state of one model call between its start and its end."""

    __slots__ = (
        "__weakref__",
        "_once",
        "_t0",
        "attributes",
        "cache_read_tokens",
        "cache_write_tokens",
        "choice_count",
        "chunks",
        "done",
        "estimate",
        "extra_usage",
        "finish_reasons",
        "input_messages",
        "input_tokens",
        "operation",
        "output_messages",
        "output_tokens",
        "parent",
        "price_variant",
        "provider",
        "raw_finish_reasons",
        "reasoning_tokens",
        "request_model",
        "response_id",
        "response_model",
        "server_address",
        "server_port",
        "slot",
        "span",
        "stamps",
        "state",
        "stream",
        "system_instructions",
        "tel",
        "tool_definitions",
    )

    def __init__(
        self,
        tel: Telemetry,
        operation: str,
        provider: str,
        request_model: str | None,
        *,
        server_address: str | None = None,
        server_port: int | None = None,
        attributes: dict[str, Any] | None = None,
        stream: bool = False,
        parent: otel_context.Context | None = None,
        kind: SpanKind = _CLIENT,
    ) -> None:
        self.tel = tel
        self.operation = operation
        self.provider = provider
        self.request_model = request_model
        self.server_address = server_address
        self.server_port = server_port
        self.stream = stream
        start: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: operation, sc.GEN_AI_PROVIDER_NAME: provider}
        if request_model:
            start[sc.GEN_AI_REQUEST_MODEL] = request_model
        if server_address:
            start[sc.SERVER_ADDRESS] = server_address
            if server_port:
                start[sc.SERVER_PORT] = server_port
        if stream:
            start[sc.GEN_AI_REQUEST_STREAM] = True
        if attributes:
            start.update(attributes)
        self.parent = otel_context.get_current() if parent is None else parent
        self.span = start_span(
            tel.tracer, f"{operation} {request_model}" if request_model else operation, self.parent, kind, start
        )
        claim_slot(self.parent, provider)
        #: Set by a framework layer (LangChain, LlamaIndex): when a provider inference beneath
        #: claims it, this span keeps its structure but counts no tokens, cost or metrics.
        self.slot: InferenceSlot | None = None
        self._t0 = time.perf_counter_ns()
        _open[id(self)] = weakref.ref(self)
        if not _shutdown.registered:
            _shutdown.end_open_at_exit()
        #: perf_counter_ns() of each streamed chunk, in order (set by the stream's tap or proxy).
        self.stamps: list[int] | None = None
        self.chunks = 0
        self.done = False
        self._once = iter(ONCE)
        self.response_model: str | None = None
        self.response_id: str | None = None
        #: One entry per choice, in order; ``None`` where no reason arrived.
        self.finish_reasons: list[str | None] | None = None
        #: The provider's own values, where ``finish_reasons`` normalised them (``llm.response.raw_finish_reasons``).
        self.raw_finish_reasons: list[str] | None = None
        self.choice_count = 1
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cache_read_tokens: int | None = None
        self.cache_write_tokens: int | None = None
        self.reasoning_tokens: int | None = None
        #: Counts of the less common priced units (:data:`EXTRA_USAGE_ATTRIBUTES`), each part of
        #: the count it belongs to (audio input tokens are input tokens); only those above zero.
        self.extra_usage: dict[str, int] | None = None
        #: How the provider served the call, where that sets its price (the price table's
        #: ``variant``): ``("service_tier", "flex")``, ``("speed", "fast")``.
        self.price_variant: tuple[str, str] | None = None
        #: Called when the provider sent no (or partial) usage: returns ``(input, output)`` estimates;
        #: only the counts that are missing are taken from it.
        self.estimate: Callable[[], tuple[int | None, int | None]] | None = None
        #: Extra attributes set at the end (response refinements such as service tier).
        self.attributes: dict[str, Any] = {}
        self.input_messages: list[dict[str, Any]] | None = None
        self.output_messages: list[dict[str, Any]] | None = None
        self.system_instructions: list[dict[str, Any]] | None = None
        self.tool_definitions: list[dict[str, Any]] | None = None
        #: The adapter's own per-call state (never exported).
        self.state: Any = None

    def fail(self, error_type: Any, message: Any = None) -> None:
        """The call returned a failure rather than raising one (a response whose status is
        ``failed``, a stream's ``error`` event): status ERROR and ``error.type``, as an exception
        gives them; ``error_type`` is the provider's code, ``_OTHER`` where it sent none."""
        etype = error_type if isinstance(error_type, str) and error_type else sc.ERROR_TYPE_OTHER
        self.attributes[sc.ERROR_TYPE] = etype
        described = f"{etype}: {message}" if isinstance(message, str) and message else etype
        self.span.set_status(Status(StatusCode.ERROR, described[:512]))

    def add_extra_usage(self, **counts: Any) -> None:
        """Note counts of the less common priced units (``cache_write_1h_tokens=...``, ...) the
        provider reported; only positive ints (within int64) are kept, and a unit noted again takes the new count."""
        found = {unit: n for unit, n in counts.items() if type(n) is int and 0 < n <= MAX_COUNT}
        if found:
            self.extra_usage = {**self.extra_usage, **found} if self.extra_usage else found

    # --- during the call -------------------------------------------------------------------
    def activate(self) -> object:
        """Make the span current (and mark the call as ours) while the SDK method runs."""
        ctx = with_span(self.parent, self.span, _ACTIVE)
        return otel_context.attach(ctx)

    @staticmethod
    def deactivate(token: object) -> None:
        otel_context.detach(token)  # type: ignore[arg-type]

    # --- the end ---------------------------------------------------------------------------
    def end_later(self, error: BaseException | None = None, *, cut: bool = False) -> None:
        """:meth:`end`, as of now, by the background thread: for a finalizer (see :func:`later`)."""
        later(partial(self.end, error, cut=cut, at=clock()))

    def end(self, error: BaseException | None = None, *, cut: bool = False,
            at: tuple[int, int] | None = None, unfinished: bool = False) -> bool:
        """End the span once: attributes, cost and metrics. ``cut``: a stream ended early; ``at``:
        when it ended, ``(time_ns(), perf_counter_ns())``, if not now (see :func:`clock`);
        ``unfinished``: ended as telemetry shuts down, the call still running. Whether this call
        ended it (it was not ended before, nor by another thread at the same moment)."""
        if not next(self._once, False):
            return False
        self.done = True
        if type(error) is GeneratorExit:  # a generator reading the stream was closed: cut short, not failed
            error, cut = None, True
        if unfinished:
            self.attributes[sc.LLM_UNFINISHED] = True
        if self.response_model is not None and not isinstance(self.response_model, str):
            self.response_model = None  # (an odd body's: neither an attribute nor a price key)
        if self.response_id is not None and not isinstance(self.response_id, str):
            self.response_id = None
        _open.pop(id(self), None)
        if at is None:  # the call's end, before our own bookkeeping below
            end_time = time.time_ns()
            end_perf = time.perf_counter_ns()
            if self.estimate is not None and (self.input_tokens is None or self.output_tokens is None) \
                    and not tokens.ready(self.provider, self.response_model or self.request_model):
                # the estimate would wait for the tokenizer's encoding, still loading: the
                # background thread does it, and the caller's thread goes on at once
                later(self._end, error, cut, end_time, end_perf)
                return True
        else:
            end_time, end_perf = at
        self._end(error, cut, end_time, end_perf)
        return True

    def _end(self, error: BaseException | None, cut: bool, end_time: int, end_perf: int) -> None:
        span = self.span
        try:
            self._finish(span, error, cut, end_perf)
        except Exception as exc:  # never let our bookkeeping break the user's call
            report("inference.end", exc)
        finally:
            try:
                span.end(end_time)
            except Exception as exc:
                report("inference.span_end", exc)

    def _emit_details(self, attrs: dict[str, Any], content: dict[str, Any]) -> None:
        """The opt-in ``gen_ai.client.inference.operation.details`` event: the span's attributes,
        with the content structured (maps and arrays, not JSON strings), in the span's context."""
        fields = {k: v for k, v in attrs.items() if not k.startswith(("gen_ai.input", "gen_ai.output",
                                                                        "gen_ai.system_instr", "gen_ai.tool.def"))}
        fields[sc.GEN_AI_OPERATION_NAME] = self.operation
        fields[sc.GEN_AI_PROVIDER_NAME] = self.provider
        if self.request_model:
            fields[sc.GEN_AI_REQUEST_MODEL] = self.request_model
        fields.update(content)
        self.tel.event_logger.emit(event_name=sc.EVENT_INFERENCE_DETAILS, attributes=fields,
                                   context=otel_trace.set_span_in_context(self.span))

    def _content(self, attrs: dict[str, Any],
                 items: tuple[tuple[str, list[dict[str, Any]] | None], ...]) -> tuple[dict[str, Any], int]:
        """Captured content, redacted before it is serialised (the JSON never holds a raw value):
        onto ``attrs`` as JSON where spans carry content, and returned structured (for the details
        event) with the number of redactions."""
        tel = self.tel
        redactor = tel.redactor
        redacted = 0
        content: dict[str, Any] = {}
        for key, value in items:
            if value:
                if redactor is not None:
                    value, n = redactor.value(value)
                    redacted += n
                if tel.content_on_spans or key == sc.GEN_AI_TOOL_DEFINITIONS:
                    attrs[key] = dump_json(value, tel.max_content_length)
                content[key] = value
        return content, redacted

    def _chunk_timing(self, attrs: dict[str, Any]) -> tuple[float | None, list[int] | None]:
        """Time to the first chunk, and the chunks' times when there are two or more, for a
        streamed call."""
        stamps = self.stamps
        if not self.chunks or not stamps:
            return None, None
        ttfc = (stamps[0] - self._t0) / 1e9
        attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
        attrs[sc.LLM_STREAM_CHUNKS] = self.chunks
        return ttfc, stamps if len(stamps) > 1 else None

    def _finish_delegated(self, span: Any, attrs: dict[str, Any], error: BaseException | None,
                          sequences: dict[str, tuple[str, ...]] | None) -> None:
        if self.tel.capture_content and self.tel.content_on_spans and span.is_recording():
            self._content(attrs, ((sc.GEN_AI_INPUT_MESSAGES, self.input_messages),
                                  (sc.GEN_AI_OUTPUT_MESSAGES, self.output_messages)))
        self._chunk_timing(attrs)
        if error is not None:
            mark_error(span, error, attrs)
        set_attributes(span, attrs, sequences)

    def _finish(self, span: Any, error: BaseException | None, cut: bool, now: int) -> None:
        duration = (now - self._t0) / 1e9
        attrs: dict[str, Any] = self.attributes
        if self.response_model:
            attrs[sc.GEN_AI_RESPONSE_MODEL] = self.response_model
        if self.response_id:
            attrs[sc.GEN_AI_RESPONSE_ID] = self.response_id
        reasons = self.finish_reasons
        if self.stream and (cut or error is not None or (reasons is not None and not all(reasons))):
            # A stream that ended early, or ended with no finish reason for a choice (a server
            # that stopped sending), reports "error" where none arrived.
            count = max(self.choice_count, len(reasons) if reasons else 0)
            reasons = [(r if r else sc.FINISH_REASON_ERROR) for r in (reasons or [])]
            reasons += [sc.FINISH_REASON_ERROR] * (count - len(reasons))
        # set apart from ``attrs``, whose values are then all of plain types (see set_attributes)
        # (tuples of str: string arrays, as the conventions have them, whatever a provider sent)
        sequences = {sc.GEN_AI_RESPONSE_FINISH_REASONS: tuple(
            r if type(r) is str else "" if r is None else str(r) for r in reasons)} if reasons else None
        if self.raw_finish_reasons:
            sequences = sequences or {}
            sequences[sc.LLM_RESPONSE_RAW_FINISH_REASONS] = tuple(map(str, self.raw_finish_reasons))

        slot = self.slot
        if slot is not None and slot.claimed:
            # A provider inference beneath counted this call: structure and content only.
            attrs[sc.LLM_INFERENCE_DELEGATED_TO] = slot.provider or ""
            self._finish_delegated(span, attrs, error, sequences)
            return
        # (each an int >= 0 or None, whatever the provider sent: see token_count)
        input_tokens, output_tokens = token_count(self.input_tokens), token_count(self.output_tokens)
        cache_read, cache_write = token_count(self.cache_read_tokens), token_count(self.cache_write_tokens)
        if (input_tokens is None or output_tokens is None) and self.estimate is not None:
            # Estimate only what the provider did not send (a cut stream may have sent its input count).
            try:
                estimated_in, estimated_out = self.estimate()
            except Exception as exc:
                report("inference.estimate", exc)
                estimated_in = estimated_out = None
            if input_tokens is None and estimated_in is not None:
                input_tokens = estimated_in
                attrs[sc.LLM_USAGE_ESTIMATED] = True
            if output_tokens is None and estimated_out is not None:
                output_tokens = estimated_out
                attrs[sc.LLM_USAGE_ESTIMATED] = True
        if input_tokens is not None:
            attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
        if output_tokens is not None:
            attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
        if cache_read is not None:
            attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cache_read
        if cache_write is not None:
            attrs[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = cache_write
        if self.reasoning_tokens is not None:
            reasoning = token_count(self.reasoning_tokens)
            if reasoning is not None:
                attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning
        extra = self.extra_usage
        if extra:
            for unit, count in extra.items():
                name = EXTRA_USAGE_ATTRIBUTES.get(unit)
                if name is not None:  # (the price table leaves a unit it does not know out, too)
                    attrs[name] = count

        cost_usd: float | None = None
        pricer = self.tel.pricer
        model = self.response_model or self.request_model
        if pricer is not None and model and (input_tokens is not None or output_tokens is not None):
            usage = (self.provider, model, input_tokens or 0, output_tokens or 0, cache_read or 0, cache_write or 0)
            cost = None
            variant = self.price_variant
            if extra or variant:  # (only then: a pricer of the app's own may predate the arguments)
                options: dict[str, Any] = {"extra": extra} if extra else {}
                if variant:
                    options["variant"] = variant
                try:
                    cost = pricer.cost(*usage, fallback=self.request_model, **options)
                except TypeError:
                    extra = variant = None
            if not (extra or variant):
                cost = pricer.cost(*usage, fallback=self.request_model)
            if cost is None:
                attrs[sc.LLM_COST_PRICED] = False
            else:
                cost_usd = cost.total
                if budgets._budgets:
                    budgets.record(cost_usd, self.parent, self.provider, model)
                attrs[sc.LLM_COST_PRICED] = True
                attrs[sc.LLM_COST_USD] = cost.total
                attrs[sc.LLM_COST_INPUT_USD] = cost.input
                attrs[sc.LLM_COST_OUTPUT_USD] = cost.output

        ttfc, stamps = self._chunk_timing(attrs)
        if stamps is not None:
            stamps = stamps[:]  # (for the metric points: a proxy could still note a chunk read after the end)

        tel = self.tel
        event_content: dict[str, Any] | None = None
        if tel.capture_content and (span.is_recording() or tel.event_logger is not None):
            event_content, redacted = self._content(attrs, (
                (sc.GEN_AI_INPUT_MESSAGES, self.input_messages),
                (sc.GEN_AI_OUTPUT_MESSAGES, self.output_messages),
                (sc.GEN_AI_SYSTEM_INSTRUCTIONS, self.system_instructions),
                (sc.GEN_AI_TOOL_DEFINITIONS, self.tool_definitions),
            ))
            if redacted:
                attrs[sc.LLM_REDACTION_COUNT] = redacted
        elif self.tool_definitions:
            attrs[sc.GEN_AI_TOOL_DEFINITIONS] = dump_json(self.tool_definitions, tel.max_content_length)

        metric_attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: self.operation,
            sc.GEN_AI_PROVIDER_NAME: self.provider,
        }
        if self.request_model:
            metric_attrs[sc.GEN_AI_REQUEST_MODEL] = self.request_model
        if self.response_model:
            metric_attrs[sc.GEN_AI_RESPONSE_MODEL] = self.response_model
        if self.server_address:
            metric_attrs[sc.SERVER_ADDRESS] = self.server_address
            if self.server_port:
                metric_attrs[sc.SERVER_PORT] = self.server_port
        if error is not None:
            metric_attrs[sc.ERROR_TYPE] = mark_error(span, error, attrs)
        elif sc.ERROR_TYPE in attrs:  # (a failure the call returned: see fail())
            metric_attrs[sc.ERROR_TYPE] = attrs[sc.ERROR_TYPE]
        set_attributes(span, attrs, sequences)
        if sequences:
            attrs.update(sequences)
        if tel.event_logger is not None and event_content is not None:
            self._emit_details(attrs, event_content)
        tel.metrics.record_inference(
            metric_attrs, duration, input_tokens, output_tokens, ttfc, stamps, cost_usd, error is not None
        )
        if attrs.get(sc.LLM_COST_PRICED) is False:
            tel.metrics.count(tel.metrics.unpriced, 1, metric_attrs)


def end_unfinished() -> int:
    """End every inference whose call has not returned (on another thread, as telemetry shuts
    down), as cut short and marked ``llm.unfinished``, so its span is exported rather than lost;
    how many. (The open streams are ended first, with what they read: see ``end_open_streams``.)"""
    ended = 0
    for ref in list(_open.values()):
        inference = ref()
        if inference is None or inference.done:
            continue
        try:
            if inference.end(cut=True, unfinished=True):
                ended += 1
        except Exception as exc:
            report("inference.shutdown", exc)
    _open.clear()
    return ended
