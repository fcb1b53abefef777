"""User prices from code or from a TOML, JSON or YAML file.

File format (TOML shown; JSON and YAML take the same keys, as ``{"price": [...]}`` or a list)::

    [[price]]
    model = "my-finetune-*"     # exact name or glob pattern
    provider = "openai"         # optional: one gen_ai.provider.name
    input = 3.0                 # USD per million input tokens
    output = 12.0               # USD per million output tokens
    cache_read = 0.3            # optional, defaults to input
    cache_write = 3.75          # optional, defaults to input
    since = 2026-01-01          # optional: applies from this date on
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from . import PricingConfigError
from ._table import PriceOverride

_KEYS = {"model", "input", "output", "cache_read", "cache_write", "provider", "since"}


def _entry(raw: Any, where: str) -> PriceOverride:
    if isinstance(raw, PriceOverride):
        return raw
    if not isinstance(raw, Mapping):
        raise PricingConfigError(f"{where}: expected a table of model, input, output, ..., got {type(raw).__name__}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise PricingConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(_KEYS))})"
        )
    model = raw.get("model")
    if not isinstance(model, str) or not model:
        raise PricingConfigError(f"{where}: 'model' must be a non-empty string")
    values: dict[str, float | None] = {}
    for key in ("input", "output", "cache_read", "cache_write"):
        value = raw.get(key)
        if value is None:
            if key in ("input", "output"):
                raise PricingConfigError(f"{where} ({model}): '{key}' (USD per million tokens) is required")
            values[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
            raise PricingConfigError(f"{where} ({model}): '{key}' must be a non-negative number, got {value!r}")
        values[key] = float(value)
    provider = raw.get("provider")
    if provider is not None and not isinstance(provider, str):
        raise PricingConfigError(f"{where} ({model}): 'provider' must be a string")
    since = raw.get("since")
    if isinstance(since, datetime):
        since = since.date()
    elif isinstance(since, str):
        try:
            since = date.fromisoformat(since)
        except ValueError:
            raise PricingConfigError(f"{where} ({model}): 'since' must be a date (YYYY-MM-DD), got {since!r}")
    elif since is not None and not isinstance(since, date):
        raise PricingConfigError(f"{where} ({model}): 'since' must be a date (YYYY-MM-DD)")
    return PriceOverride(model=model, input=values["input"] or 0.0, output=values["output"] or 0.0,
                         cache_read=values["cache_read"], cache_write=values["cache_write"],
                         provider=provider, since=since)


def parse_overrides(value: Any, where: str = "prices") -> list[PriceOverride]:
    """Overrides from a mapping ``{model: {input, output, ...}}``, a list of entries, or a file path."""
    if value is None:
        return []
    if isinstance(value, (str, Path)):
        return load_file(Path(value))
    if isinstance(value, PriceOverride):
        return [value]
    if isinstance(value, Mapping):
        if "price" in value and isinstance(value["price"], list):
            return parse_overrides(value["price"], where)
        return [_entry({"model": model, **dict(spec)} if isinstance(spec, Mapping) else spec, f"{where}[{model!r}]")
                for model, spec in value.items()]
    if isinstance(value, Iterable):
        return [_entry(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise PricingConfigError(f"{where}: expected a path, a mapping or a list of prices, got {type(value).__name__}")


def load_file(path: Path) -> list[PriceOverride]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PricingConfigError(f"cannot read price file {path}: {exc.strerror or exc}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data: Any = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise PricingConfigError(f"{path}: YAML price files need PyYAML (pip install pyyaml)")
            data = yaml.safe_load(text)
        else:
            raise PricingConfigError(f"{path}: unknown price file type {suffix!r} (use .toml, .json or .yaml)")
    except PricingConfigError:
        raise
    except Exception as exc:
        raise PricingConfigError(f"{path}: not valid {suffix.lstrip('.').upper()}: {exc}")
    if isinstance(data, Mapping) and set(data) != {"price"}:
        raise PricingConfigError(f"{path}: expected a list of [[price]] entries")
    return parse_overrides(data, str(path))
