"""What an instrumentor may change in an SDK: the attributes of its loaded modules and of the
classes they define. ``uninstrument()`` must put every one back, the very object."""

from __future__ import annotations

import sys
from typing import Any

Attributes = dict[tuple[Any, str], Any]


def sdk_attributes(package: str) -> Attributes:
    """``{(module or class, name): value}`` for every loaded module of ``package`` and every class
    defined in one."""
    found: Attributes = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == package or name.startswith(package + ".")):
            continue
        for key, value in list(vars(module).items()):
            found[(module, key)] = value
            # type(), not isinstance(): the latter asks a lazy proxy (anthropic's for google-auth)
            # for its __class__, which imports what it stands for
            if issubclass(type(value), type) and value.__module__ == name:
                for attr, member in list(vars(value).items()):
                    found[(value, attr)] = member
    return found


def _lazy(attr: str, value: Any) -> bool:
    """Set by Python or pydantic on first use, not by an instrumentor: a submodule imported since
    (an attribute of its package), and what pydantic builds when a model is first completed."""
    return issubclass(type(value), type(sys)) or attr.startswith("__pydantic_") or attr == "__signature__"


def changed(before: Attributes, after: Attributes) -> list[str]:
    """The attributes of the owners in ``before`` that ``after`` holds a different object for, or
    that are new (but for those :func:`_lazy` names)."""
    owners = {owner for owner, _ in before}
    return sorted(f"{getattr(owner, '__qualname__', getattr(owner, '__name__', owner))}.{attr}"
                  for (owner, attr), value in after.items()
                  if owner in owners and ((owner, attr) not in before or before[(owner, attr)] is not value)
                  and not _lazy(attr, value))


def restore(package: str, before: Attributes) -> int:
    """Put back what changed in ``package`` since ``before`` (values replaced, attributes added,
    but for those :func:`_lazy` names); returns how many."""
    count = 0
    owners = {owner for owner, _ in before}
    for (owner, attr), value in sdk_attributes(package).items():
        if owner not in owners or _lazy(attr, value):
            continue
        if (owner, attr) not in before:
            delattr(owner, attr)
            count += 1
        elif before[(owner, attr)] is not value:
            setattr(owner, attr, before[(owner, attr)])
            count += 1
    return count


def check_uninstrument_restores(instrumentor: Any, package: str, wraps: set[str]) -> None:
    """From an instrumented state: ``instrument()`` changes at least ``wraps`` (``Class.attr``),
    ``uninstrument()`` puts back every attribute of ``package``, and ``instrument()`` again changes
    the same ones. Leaves the instrumentor instrumented."""
    instrumentor.uninstrument()
    try:
        before = sdk_attributes(package)
        instrumentor.instrument()
        wrapped = changed(before, sdk_attributes(package))
        assert wraps <= set(wrapped), wrapped
        instrumentor.uninstrument()
        assert changed(before, sdk_attributes(package)) == []
        instrumentor.instrument()
        assert changed(before, sdk_attributes(package)) == wrapped
    finally:
        instrumentor.instrument()
