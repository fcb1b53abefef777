"""OpenAI instrumentation: chat completions, responses, embeddings and legacy completions.

``OpenAIInstrumentor().instrument()`` (``init()`` does it for you) wraps, on the sync and async
resources alike:

| method | span |
|---|---|
| ``chat.completions.create`` / ``parse`` (and the ``stream()`` helper, which calls ``create``) | ``chat {model}`` |
| ``responses.create`` / ``parse`` (and ``stream()``) | ``chat {model}``, ``openai.api.type=responses`` |
| ``responses.retrieve`` | ``fetch_response`` (no usage) |
| ``embeddings.create`` | ``embeddings {model}`` |
| ``completions.create`` | ``text_completion {model}`` |

``with_raw_response`` and ``with_streaming_response`` go through the same methods. Clients
pointed at Azure report ``azure.ai.openai``; any ``base_url`` gives ``server.address``/``server.port``.
"""

from __future__ import annotations

from typing import Any

from .._core._base import ObservatoryInstrumentor
from .._core._stream import helper_closers
from .._core._wrap import CallHandler, Wrapper, async_wrapper, sync_wrapper

#: (module, class, method, handler, is_async)
_TARGETS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("openai.resources.chat.completions", "Completions", "create", "chat", False),
    ("openai.resources.chat.completions", "AsyncCompletions", "create", "chat", True),
    ("openai.resources.chat.completions", "Completions", "parse", "chat", False),
    ("openai.resources.chat.completions", "AsyncCompletions", "parse", "chat", True),
    ("openai.resources.beta.chat.completions", "Completions", "parse", "chat", False),
    ("openai.resources.beta.chat.completions", "AsyncCompletions", "parse", "chat", True),
    ("openai.resources.responses", "Responses", "create", "responses", False),
    ("openai.resources.responses", "AsyncResponses", "create", "responses", True),
    ("openai.resources.responses", "Responses", "parse", "responses", False),
    ("openai.resources.responses", "AsyncResponses", "parse", "responses", True),
    ("openai.resources.responses", "Responses", "retrieve", "retrieve", False),
    ("openai.resources.responses", "AsyncResponses", "retrieve", "retrieve", True),
    ("openai.resources.embeddings", "Embeddings", "create", "embeddings", False),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", "embeddings", True),
    ("openai.resources.completions", "Completions", "create", "completions", False),
    ("openai.resources.completions", "AsyncCompletions", "create", "completions", True),
)

#: Stream helpers whose close() closes the HTTP response directly, bypassing the raw stream.
_HELPER_STREAMS = (
    ("openai.lib.streaming.chat", "ChatCompletionStream", False),
    ("openai.lib.streaming.chat", "AsyncChatCompletionStream", True),
    ("openai.lib.streaming.responses", "ResponseStream", False),
    ("openai.lib.streaming.responses", "AsyncResponseStream", True),
)


def _handler(kind: str, is_async: bool) -> CallHandler:
    """The handler of one API surface. Its module imports ``openai``, so it is imported when
    openai's own resource module is, never by importing this package: importing this package
    imports nothing of openai (an application may import it before openai, after ``init()``)."""
    if kind == "chat":
        from ._chat import ChatHandler

        return ChatHandler(is_async)
    if kind == "responses":
        from ._responses import ResponsesHandler

        return ResponsesHandler(is_async)
    if kind == "retrieve":
        from ._responses import RetrieveHandler

        return RetrieveHandler(is_async)
    from ._embeddings import CompletionsHandler, EmbeddingsHandler

    return EmbeddingsHandler() if kind == "embeddings" else CompletionsHandler(is_async)


#: The helpers' ``close`` (which closes the HTTP response around the raw stream), sync and async.
_helper_close, _helper_aclose = helper_closers("openai.stream_helper.close")


class OpenAIInstrumentor(ObservatoryInstrumentor):
    instruments = ("openai >= 1.92.0",)

    def _patch_all(self) -> None:
        # openai imports its resource modules on first use (``client.chat``, ...): so do we, which
        # keeps ~0.6 s of imports out of ``import openai`` for what an application never calls.
        for module, cls_name, method, kind, is_async in _TARGETS:
            self.wrap_when_imported(module, cls_name, method, make_wrapper=self._wrapper_maker(kind, is_async))
        for module, cls_name, is_async in _HELPER_STREAMS:
            self.wrap_when_imported(module, cls_name, "close", _helper_aclose if is_async else _helper_close)

    def _wrapper_maker(self, kind: str, is_async: bool) -> Any:
        def make() -> Wrapper:
            return (async_wrapper if is_async else sync_wrapper)(_handler(kind, is_async), self.telemetry)

        return make


__all__ = ["OpenAIInstrumentor"]
