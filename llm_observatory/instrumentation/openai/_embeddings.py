"""``embeddings.create`` (``embeddings``) and legacy ``completions.create`` (``text_completion``)."""

from __future__ import annotations

from typing import Any

from openai import AsyncStream, Stream

from ... import semconv as sc
from ...pricing import tokens
from .._core._inference import Inference
from .._core._messages import items, message, text_part
from .._core._sdk import SdkHandler, choice_count, choice_index
from .._core._telemetry import Telemetry
from ._common import client_info, common_request_attributes, readable


class EmbeddingsHandler(SdkHandler):
    site = "openai.embeddings"

    def start(self, tel: Telemetry, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Inference:
        provider, address, port = client_info(instance)
        model = kwargs.get("model")
        attrs: dict[str, Any] = {}
        # (each attribute of its conventional type only: an odd argument is sent, not recorded)
        fmt = kwargs.get("encoding_format")
        if isinstance(fmt, str):
            attrs[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = [fmt]
        dims = kwargs.get("dimensions")
        if type(dims) is int:
            attrs[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dims
        return Inference(tel, sc.Operation.EMBEDDINGS, provider, model if isinstance(model, str) else None,
                         server_address=address, server_port=port, attributes=attrs)

    def record(self, inference: Inference, result: Any) -> None:
        inference.response_model = getattr(result, "model", None)
        usage = getattr(result, "usage", None)
        if usage is not None:
            inference.input_tokens = getattr(usage, "prompt_tokens", None)
        data = getattr(result, "data", None)
        if data:
            vector = getattr(data[0], "embedding", None)
            if isinstance(vector, list):
                inference.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = len(vector)


class CompletionsHandler(SdkHandler):
    """Legacy text completions."""

    stream_types = (Stream, AsyncStream)

    def __init__(self, is_async: bool) -> None:
        self.is_async = is_async
        self.site = "openai.completions"

    def start(self, tel: Telemetry, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Inference:
        provider, address, port = client_info(instance)
        model = kwargs.get("model")
        attrs: dict[str, Any] = {}
        common_request_attributes(kwargs, attrs)
        max_tokens = kwargs.get("max_tokens")
        if type(max_tokens) is int:
            attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        n = choice_count(kwargs.get("n"))
        if n is not None and n != 1:
            attrs[sc.GEN_AI_REQUEST_CHOICE_COUNT] = n
        stream = kwargs.get("stream") is True
        inference = Inference(tel, sc.Operation.TEXT_COMPLETION, provider, model if isinstance(model, str) else None,
                              server_address=address, server_port=port, attributes=attrs, stream=stream)
        if n is not None:
            inference.choice_count = n
        prompt = kwargs.get("prompt")
        prompts: list[str] = []
        if isinstance(prompt, str):
            prompts = [prompt]
        elif readable(prompt):  # (prompts of token ids give no text)
            prompts = [p for p in prompt if isinstance(p, str)]
        if tel.capture_content:
            inference.input_messages = [message("user", [text_part(p)]) for p in prompts]
        if stream:
            inference.estimate = lambda: (sum(tokens.count_text(p, provider, model) for p in prompts), None)
        return inference

    def accumulator(self, inference: Inference) -> _CompletionChunks:
        return _CompletionChunks(inference)

    def record(self, inference: Inference, result: Any) -> None:
        inference.response_id = getattr(result, "id", None)
        inference.response_model = getattr(result, "model", None)
        choices = items(getattr(result, "choices", None))
        inference.finish_reasons = [getattr(c, "finish_reason", None) for c in choices]
        usage = getattr(result, "usage", None)
        if usage is not None:
            inference.input_tokens = getattr(usage, "prompt_tokens", None)
            inference.output_tokens = getattr(usage, "completion_tokens", None)
        if inference.tel.capture_content:
            inference.output_messages = [
                message("assistant", [text_part(getattr(c, "text", "") or "")],
                        finish_reason=getattr(c, "finish_reason", None) or "error") for c in choices]


class _CompletionChunks:
    """Reads a legacy completions stream: every chunk, in order (in batches, for a long stream)."""

    __slots__ = ("hide", "inference", "reasons", "texts")

    def __init__(self, inference: Inference) -> None:
        self.inference = inference
        self.hide = None
        self.reasons: dict[int, str] = {}
        self.texts: dict[int, list[str]] = {}

    def spill(self, chunks: list[Any]) -> None:
        inference, reasons, texts = self.inference, self.reasons, self.texts
        for chunk in chunks:
            if inference.response_id is None:
                inference.response_id = getattr(chunk, "id", None)
                inference.response_model = getattr(chunk, "model", None)
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                inference.input_tokens = getattr(usage, "prompt_tokens", None)
                inference.output_tokens = getattr(usage, "completion_tokens", None)
            for choice in items(getattr(chunk, "choices", None)):
                index = choice_index(getattr(choice, "index", None))
                if index is None:
                    continue
                reason, text = getattr(choice, "finish_reason", None), getattr(choice, "text", None)
                if reason:
                    reasons[index] = reason
                if text and isinstance(text, str):
                    texts.setdefault(index, []).append(text)

    def finish(self, chunks: list[Any]) -> None:
        self.spill(chunks)
        inference, reasons, texts = self.inference, self.reasons, self.texts
        count = max(max(reasons, default=-1) + 1, max(texts, default=-1) + 1, inference.choice_count)
        inference.finish_reasons = [reasons.get(i) for i in range(count)]
        if inference.input_tokens is None and inference.estimate is not None:
            estimate_input = inference.estimate
            outputs = ["".join(t) for t in texts.values()]
            provider, model = inference.provider, inference.response_model or inference.request_model
            inference.estimate = lambda: (estimate_input()[0],
                                          sum(tokens.count_text(t, provider, model) for t in outputs))
        if inference.tel.capture_content:
            inference.output_messages = [
                message("assistant", [text_part("".join(texts.get(i, [])))],
                        finish_reason=reasons.get(i) or "error") for i in range(count)]
