"""The GenAI message JSON schemas (semantic-conventions-genai ``gen-ai-*.json``), for validation."""

from __future__ import annotations

from typing import Any

import jsonschema

_PART = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"type": "string"}},
    "allOf": [
        {"if": {"properties": {"type": {"const": "text"}}},
         "then": {"required": ["content"], "properties": {"content": {"type": "string"}}}},
        {"if": {"properties": {"type": {"const": "reasoning"}}},
         "then": {"required": ["content"], "properties": {"content": {"type": "string"}}}},
        {"if": {"properties": {"type": {"const": "tool_call"}}},
         "then": {"required": ["name"], "properties": {"name": {"type": "string"},
                                                        "id": {"type": ["string", "null"]}}}},
        {"if": {"properties": {"type": {"const": "tool_call_response"}}}, "then": {"required": ["response"]}},
        {"if": {"properties": {"type": {"const": "blob"}}},
         "then": {"required": ["modality", "content"], "properties": {"content": {"type": "string"}}}},
        {"if": {"properties": {"type": {"const": "uri"}}},
         "then": {"required": ["modality", "uri"], "properties": {"uri": {"type": "string"}}}},
        {"if": {"properties": {"type": {"const": "file"}}}, "then": {"required": ["modality", "file_id"]}},
        {"if": {"properties": {"type": {"const": "server_tool_call"}}},
         "then": {"required": ["name", "server_tool_call"]}},
    ],
}
_MESSAGE = {"type": "object", "required": ["role", "parts"],
            "properties": {"role": {"type": "string"}, "parts": {"type": "array", "items": _PART},
                           "name": {"type": ["string", "null"]}}}
_OUTPUT = {**_MESSAGE, "properties": {**_MESSAGE["properties"],  # type: ignore[dict-item]
                                      "finish_reason": {"type": "string"}}}

INPUT_MESSAGES = {"type": "array", "items": _MESSAGE}
OUTPUT_MESSAGES = {"type": "array", "items": _OUTPUT}
SYSTEM_INSTRUCTIONS = {"type": "array", "items": _PART}


def validate_messages(value: Any, *, output: bool) -> None:
    jsonschema.validate(value, OUTPUT_MESSAGES if output else INPUT_MESSAGES)
