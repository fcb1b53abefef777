"""GenAI message parts (the ``gen_ai.*.messages`` JSON schema) and their safe serialisation.

Only used when content capture is on. Serialisation never raises: values JSON cannot encode are
written as their ``repr``, bytes as base64, and output over the size limit is truncated string by
string so that the result is still valid JSON of the same shape.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

TRUNCATED = "…[truncated]"


def field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj[name]`` for dicts (request parameters), ``obj.name`` for SDK objects."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def items(value: Any) -> Any:
    """The items of a list (or tuple) a provider sent, or none: where a list belongs, an odd value
    (a number, a string, an object, ``None``) is read as empty rather than fail the reading."""
    return value if isinstance(value, (list, tuple)) else ()


def _text(value: Any) -> str:
    """A string where the schema has one: an odd value (a number, a list, ``None``) as its text."""
    if type(value) is str:
        return value
    return "" if value is None else str(value)


def _id(value: Any) -> str | None:
    return value if value is None or type(value) is str else str(value)


def text_part(content: str) -> dict[str, Any]:
    return {"type": "text", "content": _text(content)}


def reasoning_part(content: str) -> dict[str, Any]:
    return {"type": "reasoning", "content": _text(content)}


def tool_call_part(call_id: str | None, name: str, arguments: Any) -> dict[str, Any]:
    return {"type": "tool_call", "id": _id(call_id), "name": _text(name), "arguments": parse_arguments(arguments)}


def tool_call_response_part(call_id: str | None, response: Any) -> dict[str, Any]:
    return {"type": "tool_call_response", "id": _id(call_id), "response": response}


def uri_part(uri: str, modality: str, mime_type: str | None = None) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "uri", "modality": modality, "uri": _text(uri)}
    if mime_type:
        part["mime_type"] = _text(mime_type)
    return part


def blob_part(content: str | bytes, modality: str, mime_type: str | None = None) -> dict[str, Any]:
    if isinstance(content, bytes):
        content = base64.b64encode(content).decode("ascii")
    part: dict[str, Any] = {"type": "blob", "modality": modality, "content": _text(content)}
    if mime_type:
        part["mime_type"] = _text(mime_type)
    return part


def message(role: str, parts: list[dict[str, Any]], name: str | None = None,
            finish_reason: str | None = None) -> dict[str, Any]:
    """A message of the schema; every field it has a string for is one (an odd role or name, an
    API's or a caller's, is written as its text; no role at all as ``user``)."""
    msg: dict[str, Any] = {"role": role if type(role) is str else "user" if role is None else str(role),
                           "parts": parts}
    if name:
        msg["name"] = _text(name)
    if finish_reason is not None:
        msg["finish_reason"] = _text(finish_reason)
    return msg


def output_finish_reason(reason: Any, names: Mapping[str, str]) -> str:
    """A finish reason as an output message gives it (the schema's name for it, from the provider's
    own ``names``): ``error`` where none, or an odd one (not a string), came."""
    if not reason or not isinstance(reason, str):
        return "error"
    return names.get(reason, reason)


def parse_arguments(arguments: Any) -> Any:
    """Tool-call arguments as an object when they are a JSON string, else unchanged."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-encodable copy of ``value`` (pydantic models, dataclasses, bytes, others by repr)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if depth > 20:
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return to_jsonable(dump(mode="json"), depth + 1)
        except Exception:
            return repr(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        try:
            return to_jsonable(dataclasses.asdict(value), depth + 1)
        except Exception:
            return repr(value)
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)


def _shrink(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + TRUNCATED
    if isinstance(value, dict):
        return {k: _shrink(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shrink(v, limit) for v in value]
    return value


def dump_json(value: Any, max_length: int) -> str:
    """Compact JSON of ``value``, at most about ``max_length`` characters, still valid JSON."""
    try:
        text = _dumps(value)
    except (TypeError, ValueError):
        value = to_jsonable(value)
        text = _dumps(value)
    if len(text) <= max_length:
        return text
    # Cut the longest strings first, halving the allowance until the whole fits.
    limit = max_length
    while limit > 16:
        limit //= 2
        text = _dumps(_shrink(value, limit))
        if len(text) <= max_length:
            return text
    return _dumps({"truncated": True, "length": len(_dumps(value))})


def sequence(value: Any) -> Sequence[Any]:
    """``value`` as a sequence (a lone item becomes a one-item list; ``None`` an empty one)."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return value
    return (value,)
