"""Reading LlamaIndex objects: ``attr`` answers as ``getattr(obj, name, None)`` does, for every kind
of object, without going through a pydantic model's ``__getattr__`` for a missing attribute."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from llama_index.core.base.llms.types import ChatMessage, CompletionResponse
from llama_index.core.instrumentation.events.llm import LLMChatStartEvent, LLMCompletionStartEvent

from llm_observatory.instrumentation.llamaindex._content import attr


class _Extra(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    declared: int = 1

    @property
    def computed(self) -> str:
        return "from a property"


class _Slots:
    __slots__ = ("a",)

    def __init__(self) -> None:
        self.a = 1


def _objects() -> list[Any]:
    return [
        ChatMessage(role="user", content="hi"),  # ``content`` is a property in recent releases
        CompletionResponse(text="done"),
        LLMCompletionStartEvent(prompt="p", additional_kwargs={}, model_dict={"model": "m"}),
        LLMChatStartEvent(messages=[], additional_kwargs={}, model_dict={}),
        _Extra(undeclared="kept"),
        _Slots(),
        {"key": "value"},
        None,
        "text",
    ]


@pytest.mark.parametrize("obj", _objects(), ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("name", ["content", "text", "message", "messages", "prompt", "model_dict", "declared",
                                  "undeclared", "computed", "a", "key", "missing", "__class__"])
def test_attr_answers_as_getattr_does(obj: Any, name: str) -> None:
    assert attr(obj, name) == getattr(obj, name, None)


def test_a_missing_attribute_of_a_pydantic_model_never_reaches_its_getattr(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = pydantic.BaseModel.__getattr__

    def counting(self: Any, name: str) -> Any:
        calls.append(name)
        return original(self, name)

    monkeypatch.setattr(pydantic.BaseModel, "__getattr__", counting)
    event = LLMCompletionStartEvent(prompt="p", additional_kwargs={}, model_dict={})
    assert attr(event, "messages") is None and attr(CompletionResponse(text="x"), "message") is None
    assert calls == []


def test_a_class_is_asked_for_a_missing_name_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked of a pydantic model class, a missing name raises in its metaclass: the answer is kept."""
    from pydantic._internal._model_construction import ModelMetaclass

    asked: list[str] = []
    original = ModelMetaclass.__getattr__

    def counting(cls: Any, name: str) -> Any:
        asked.append(name)
        return original(cls, name)

    monkeypatch.setattr(ModelMetaclass, "__getattr__", counting)

    class Fresh(pydantic.BaseModel):
        text: str = ""

    for _ in range(3):
        assert attr(Fresh(text="a"), "message") is None
        assert attr(Fresh(text="a"), "text") == "a"
    assert asked.count("message") == 1
