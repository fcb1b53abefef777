"""Anthropic content blocks → GenAI message parts (only used with content capture on)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._core._messages import (
    blob_part,
    field,
    items,
    message,
    reasoning_part,
    text_part,
    tool_call_part,
    tool_call_response_part,
    uri_part,
)


def _media(block: Any, modality: str) -> dict[str, Any]:
    source = field(block, "source") or {}
    kind = field(source, "type")
    if kind == "base64":
        return blob_part(field(source, "data", ""), modality, field(source, "media_type"))
    if kind == "url":
        return uri_part(field(source, "url", ""), modality)
    if kind == "file":
        return {"type": "file", "modality": modality, "file_id": field(source, "file_id")}
    if kind == "text":
        return text_part(field(source, "data", ""))
    return {"type": str(kind or modality)}


def _result_content(content: Any) -> Any:
    if isinstance(content, str) or content is None:
        return content
    blocks = items(content)
    texts = [field(b, "text") for b in blocks if field(b, "type") == "text"]
    return "".join(t for t in texts if isinstance(t, str)) if len(texts) == len(blocks) else [
        _block(b) for b in blocks]


def _block(block: Any) -> dict[str, Any]:
    kind = field(block, "type")
    if kind == "text":
        return text_part(field(block, "text", ""))
    if kind == "thinking":
        return reasoning_part(field(block, "thinking", ""))
    if kind == "redacted_thinking":
        return {"type": "reasoning", "content": ""}
    if kind == "tool_use":
        return tool_call_part(field(block, "id"), field(block, "name", ""), field(block, "input"))
    if kind == "tool_result":
        return tool_call_response_part(field(block, "tool_use_id"), _result_content(field(block, "content")))
    if kind == "image":
        return _media(block, "image")
    if kind == "document":
        return _media(block, "document")
    if kind == "server_tool_use":
        return {"type": "server_tool_call", "id": field(block, "id"), "name": field(block, "name", ""),
                "server_tool_call": {"type": field(block, "name", "server_tool")}}
    if isinstance(kind, str) and kind.endswith("_tool_result"):
        return {"type": "server_tool_call_response", "id": field(block, "tool_use_id"),
                "server_tool_call_response": {"type": kind}}
    return {"type": str(kind)}


def parts(content: Any) -> list[dict[str, Any]]:
    """Parts of a message's ``content`` (a string or a list of blocks; anything else has none)."""
    if isinstance(content, str):
        return [text_part(content)]
    return [_block(b) for b in items(content)]


def input_messages(messages: Iterable[Any]) -> list[dict[str, Any]]:
    return [message(field(m, "role", "user"), parts(field(m, "content"))) for m in messages]


def system_parts(system: Any) -> list[dict[str, Any]]:
    return parts(system)


def texts(content: Any) -> list[str]:
    """Text of a message's content, for token estimates."""
    if isinstance(content, str):
        return [content]
    out = []
    for block in items(content):
        for key in ("text", "thinking"):
            value = field(block, key)
            if isinstance(value, str):
                out.append(value)
        content_value = field(block, "content")
        if isinstance(content_value, str):
            out.append(content_value)
    return out


#: Anthropic stop reasons → gen_ai.response.finish_reasons (the reference implementation's mapping).
FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                  "model_context_window_exceeded": "length"}
#: The same, as the output-message schema's enum spells it.
OUTPUT_FINISH_REASONS = {**FINISH_REASONS, "tool_use": "tool_call"}


def tool_definitions(tools: Iterable[Any], with_details: bool) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        kind = field(tool, "type") or "function"
        entry: dict[str, Any] = {"type": "function" if kind in ("custom", "function") else kind,
                                 "name": field(tool, "name", kind)}
        if with_details:
            description, schema = field(tool, "description"), field(tool, "input_schema")
            if description is not None:
                entry["description"] = description
            if schema is not None:
                entry["parameters"] = schema
        out.append(entry)
    return out
