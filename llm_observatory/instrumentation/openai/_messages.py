"""OpenAI message shapes → GenAI message parts (only used with content capture on)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._core._messages import (
    blob_part,
    field,
    items,
    message,
    parse_arguments,
    text_part,
    tool_call_part,
    tool_call_response_part,
    uri_part,
)


def _data_url(url: str) -> tuple[str | None, str] | None:
    if not url.startswith("data:"):
        return None
    header, _, data = url[5:].partition(",")
    mime = header.split(";", 1)[0] or None
    return mime, data


def content_parts(content: Any) -> list[dict[str, Any]]:
    """Parts of a chat message's ``content`` (a string or a list of content parts; anything else
    has none)."""
    if isinstance(content, str):
        return [text_part(content)]
    parts: list[dict[str, Any]] = []
    for item in items(content):
        kind = field(item, "type")
        if kind in ("text", "input_text", "output_text"):
            parts.append(text_part(field(item, "text", "")))
        elif kind == "refusal":
            parts.append(text_part(field(item, "refusal", "")))
        elif kind in ("image_url", "input_image"):
            image = field(item, "image_url")
            url = field(image, "url") if image is not None and not isinstance(image, str) else image
            if isinstance(url, str):
                data = _data_url(url)
                parts.append(blob_part(data[1], "image", data[0]) if data else uri_part(url, "image"))
            elif field(item, "file_id"):
                parts.append({"type": "file", "modality": "image", "file_id": field(item, "file_id")})
        elif kind == "input_audio":
            audio = field(item, "input_audio") or {}
            fmt = field(audio, "format")
            parts.append(blob_part(field(audio, "data", ""), "audio", f"audio/{fmt}" if fmt else None))
        elif kind in ("file", "input_file"):
            file = field(item, "file") or item
            file_id = field(file, "file_id")
            if file_id:
                parts.append({"type": "file", "modality": "document", "file_id": file_id})
        else:
            parts.append({"type": str(kind)})
    return parts


def tool_calls_parts(tool_calls: Iterable[Any] | None) -> list[dict[str, Any]]:
    parts = []
    for call in items(tool_calls):
        fn = field(call, "function")
        if fn is not None:
            parts.append(tool_call_part(field(call, "id"), field(fn, "name", ""), field(fn, "arguments")))
        else:
            parts.append(tool_call_part(field(call, "id"), field(call, "name", field(call, "type", "")),
                                        field(call, "input")))
    return parts


def input_messages(messages: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for msg in messages:
        role = field(msg, "role", "user")
        if role == "tool":
            parts = [tool_call_response_part(field(msg, "tool_call_id"), _text_of(field(msg, "content")))]
        else:
            parts = content_parts(field(msg, "content"))
            if role == "assistant":
                parts += tool_calls_parts(field(msg, "tool_calls"))
                fn_call = field(msg, "function_call")
                if fn_call is not None:
                    parts.append(tool_call_part(None, field(fn_call, "name", ""), field(fn_call, "arguments")))
        out.append(message(role, parts, field(msg, "name")))
    return out


def _text_of(content: Any) -> Any:
    if isinstance(content, str):
        return parse_arguments(content)
    if isinstance(content, list):
        return "".join(field(p, "text", "") or "" for p in content)
    return content


def message_texts(messages: Iterable[Any]) -> list[list[str]]:
    """The text of each message, for token estimates."""
    out = []
    for msg in messages:
        texts: list[str] = []
        content = field(msg, "content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(t for p in content if isinstance(t := field(p, "text"), str))
        name = field(msg, "name")
        if isinstance(name, str):
            texts.append(name)
        for call in field(msg, "tool_calls") or ():
            fn = field(call, "function")
            if fn is not None:
                texts.extend(t for t in (field(fn, "name"), field(fn, "arguments")) if isinstance(t, str))
        out.append(texts)
    return out


#: Finish reasons inside gen_ai.output.messages use the schema's enum.
OUTPUT_FINISH_REASON = {"tool_calls": "tool_call", "function_call": "tool_call"}


def tool_definitions(tools: Iterable[Any], with_details: bool) -> list[dict[str, Any]]:
    """Tool definitions: name and type always; description and parameters only with content on."""
    out = []
    for tool in tools:
        kind = field(tool, "type", "function")
        fn = field(tool, "function")
        source = fn if fn is not None else tool
        entry: dict[str, Any] = {"type": kind, "name": field(source, "name", kind)}
        if with_details:
            for key in ("description", "parameters"):
                value = field(source, key)
                if value is not None:
                    entry[key] = value
        out.append(entry)
    return out
