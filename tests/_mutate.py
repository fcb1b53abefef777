"""Odd provider bodies: one field of a well-formed JSON body dropped, nulled or given another type.

A provider (or a proxy, or an OpenAI-compatible server) can send a body the SDK does not expect:
the SDKs build their response objects without validating them, so whatever arrives reaches the
instrumentation's handlers as it is. :func:`mutate` makes such a body from a good one, the same
way every time for the same body and seed, so that a call can be run twice (with and without the
instrumentation) on the same odd body, and its outcomes compared.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from typing import Any

#: What a field's value is replaced with ("drop" removes the field).
ODD_VALUES: tuple[Any, ...] = ("drop", None, "x", "", -1, 0, 2**70, 1.5, float("nan"), True, [], {}, [None], ["x"],
                               {"x": 1})

Path = tuple[Any, ...]


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every field and item below ``value``, depth first, in a fixed order."""
    if isinstance(value, dict):
        for key in sorted(value):
            yield (*prefix, key)
            yield from paths(value[key], (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*prefix, i)
            yield from paths(item, (*prefix, i))


def replace(body: Any, path: Path, odd: Any) -> Any:
    """A copy of ``body`` with the value at ``path`` replaced by ``odd`` (or dropped)."""
    body = copy.deepcopy(body)
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    if odd == "drop" and isinstance(odd, str):
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(odd)
    return body


def mutate(seed: int, inside: Path = ()) -> Callable[[Any], tuple[Any, str]]:
    """A function that makes a body odd at one place chosen by ``seed`` (and by the body's own
    fields, so the same body always gets the same change), and says where and how; with
    ``inside``, a place strictly below that path."""

    def apply(body: Any) -> tuple[Any, str]:
        rng = random.Random(seed)
        where = [p for p in paths(body) if len(p) > len(inside) and p[:len(inside)] == inside]
        if not where:
            return body, "unchanged"
        path = rng.choice(where)
        odd = rng.choice(ODD_VALUES)
        return replace(body, path, odd), f"{'.'.join(map(str, path))} = {odd!r}"

    return apply


def mutate_one_event(seed: int, among: Callable[[list[Any]], int] = len,
                     ) -> Callable[[list[Any]], tuple[list[Any], str]]:
    """For a stream: one of its events made odd (chosen by ``seed`` among the first
    ``among(events)``), the others as they were."""

    def apply(events: list[Any]) -> tuple[list[Any], str]:
        if not among(events):
            return events, "unchanged"
        i = random.Random(seed).randrange(among(events))
        odd, where = mutate(seed)(events[i])
        return [*events[:i], odd, *events[i + 1:]], f"event {i}: {where}"

    return apply
