"""A one-step workflow calling a model. No ``from __future__ import annotations`` here: older
LlamaIndex releases read step signatures' annotations as types, not strings."""

from llama_index.core.workflow import StartEvent, StopEvent, Workflow, step

from .conftest import mock_llm


class Answer(Workflow):
    @step
    async def answer(self, ev: StartEvent) -> StopEvent:
        reply = await mock_llm().acomplete(ev.question)
        return StopEvent(result=str(reply))
