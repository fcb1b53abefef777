"""In-process spend budgets, fed by the same cost figures as ``llm.cost.usd``.

::

    observatory.budget(5.00, per="user", window="1d", on_exceed="raise")

Each model call with a known cost adds to the spend of its key (the user, session, ... in whose
context it ran) in the current window. When a key's spend crosses the limit, the budget fires
once for that key and window: ``"warn"`` logs a warning, a callable receives a
:class:`BudgetEvent`, and ``"raise"`` makes the *next* provider call in that key's context raise
:class:`BudgetExceeded` before any request is sent. A call already running, or a stream being read,
is never interrupted. Windows are fixed (aligned to the Unix epoch, UTC) and memory is bounded:
at most ``max_keys`` keys are tracked per budget, the least recently used being forgotten first.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opentelemetry import context as otel_context

from . import context as ctx_values

logger = logging.getLogger("llm_observatory")

_PER_KEYS = {
    "user": ctx_values.USER_KEY,
    "session": ctx_values.SESSION_KEY,
    "conversation": ctx_values.CONVERSATION_KEY,
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class BudgetExceeded(Exception):
    """Raised before a provider call when a ``on_exceed="raise"`` budget is spent for its key."""

    def __init__(self, budget: Budget, key: str | None, spent_usd: float) -> None:
        self.budget = budget
        self.key = key
        self.spent_usd = spent_usd
        self.limit_usd = budget.limit_usd
        who = f" for {budget.per} {key!r}" if key is not None else ""
        super().__init__(f"budget {budget.name!r} exceeded{who}: ${spent_usd:.6f} spent of ${budget.limit_usd:.6f}")


@dataclass(frozen=True)
class BudgetEvent:
    """What a budget callback receives when a key crosses its limit."""

    budget: Budget
    key: str | None
    spent_usd: float
    limit_usd: float
    window_start: float | None


class _Entry:
    __slots__ = ("fired", "spent", "window")

    def __init__(self, window: float | None) -> None:
        self.window = window
        self.spent = 0.0
        self.fired = False


def _parse_window(window: str | float | timedelta | None) -> float | None:
    if window is None:
        return None
    if isinstance(window, timedelta):
        seconds = window.total_seconds()
    elif isinstance(window, (int, float)) and not isinstance(window, bool):
        seconds = float(window)
    elif isinstance(window, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", window)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"window must be a timedelta, seconds, or a string like '1h' or '30d', got {window!r}")
    if seconds <= 0:
        raise ValueError("window must be positive")
    return seconds


class Budget:
    """A spend limit in USD per key and window. Create it with :func:`budget`."""

    def __init__(
        self,
        limit_usd: float,
        *,
        per: str | Callable[[dict[str, Any]], str | None] = "global",
        window: str | float | timedelta | None = None,
        on_exceed: str | Callable[[BudgetEvent], Any] = "warn",
        name: str | None = None,
        max_keys: int = 10_000,
    ) -> None:
        if isinstance(limit_usd, bool) or not isinstance(limit_usd, (int, float)) or limit_usd <= 0:
            raise ValueError(f"limit_usd must be a positive number, got {limit_usd!r}")
        if isinstance(per, str) and per not in (*_PER_KEYS, "global", "service", "model", "provider"):
            raise ValueError(f"per must be one of global, service, user, session, conversation, model, provider "
                             f"or a callable, got {per!r}")
        if not callable(on_exceed) and on_exceed not in ("warn", "raise"):
            raise ValueError(f"on_exceed must be 'warn', 'raise' or a callable, got {on_exceed!r}")
        self.limit_usd = float(limit_usd)
        self.per = per if isinstance(per, str) else getattr(per, "__name__", "key")
        self._per = per
        self.window_s = _parse_window(window)
        self.on_exceed = on_exceed
        self.name = name or f"${self.limit_usd:g} per {self.per}" + (f" per {window}" if window else "")
        self.max_keys = max_keys
        self._entries: OrderedDict[str | None, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    # --- keys and windows ----------------------------------------------------------------------
    def _key(self, ctx: otel_context.Context, provider: str | None, model: str | None) -> tuple[bool, str | None]:
        per = self._per
        if per == "global" or per == "service":
            return True, None
        if per == "model":
            return model is not None, model
        if per == "provider":
            return provider is not None, provider
        if isinstance(per, str):
            value = otel_context.get_value(_PER_KEYS[per], ctx)
            return value is not None, None if value is None else str(value)
        attrs = ctx_values.attributes_from(ctx)
        attrs.update({"gen_ai.provider.name": provider, "gen_ai.request.model": model})
        value = per(attrs)
        return value is not None, value

    def _window(self, now: float) -> float | None:
        return None if self.window_s is None else now - (now % self.window_s)

    def _entry(self, key: str | None, now: float) -> _Entry:
        window = self._window(now)
        entry = self._entries.get(key)
        if entry is None or entry.window != window:
            entry = _Entry(window)
            self._entries[key] = entry
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        return entry

    # --- accounting ------------------------------------------------------------------------------
    def add(self, cost_usd: float, ctx: otel_context.Context | None = None, provider: str | None = None,
            model: str | None = None) -> None:
        """Count ``cost_usd`` for the key of ``ctx`` (the current context by default)."""
        applies, key = self._key(ctx if ctx is not None else otel_context.get_current(), provider, model)
        if not applies:
            return
        now = time.time()
        with self._lock:
            entry = self._entry(key, now)
            before = entry.spent
            entry.spent = before + cost_usd
            crossed = before < self.limit_usd <= entry.spent and not entry.fired
            if crossed:
                entry.fired = True
            spent, window = entry.spent, entry.window
        if crossed:
            self._fire(BudgetEvent(self, key, spent, self.limit_usd, window))

    def _fire(self, event: BudgetEvent) -> None:
        if callable(self.on_exceed):
            try:
                self.on_exceed(event)
            except Exception:
                logger.exception("LLM Observatory: the callback of budget %r failed", self.name)
            return
        who = f" for {self.per} {event.key!r}" if event.key is not None else ""
        then = "; further calls will raise BudgetExceeded" if self.on_exceed == "raise" else ""
        logger.warning("LLM Observatory: budget %r exceeded%s: $%.6f spent of $%.6f%s",
                       self.name, who, event.spent_usd, self.limit_usd, then)

    def check(self, ctx: otel_context.Context | None = None, provider: str | None = None,
              model: str | None = None) -> None:
        """Raise :class:`BudgetExceeded` if this is a ``"raise"`` budget already spent for ``ctx``'s key."""
        if self.on_exceed != "raise":
            return
        applies, key = self._key(ctx if ctx is not None else otel_context.get_current(), provider, model)
        if not applies:
            return
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.window != self._window(time.time()):
                return
            spent = entry.spent
        if spent >= self.limit_usd:
            raise BudgetExceeded(self, key, spent)

    def spent(self, key: str | None = None) -> float:
        """Spend of ``key`` (``None`` for global budgets) in the current window."""
        with self._lock:
            entry = self._entries.get(key)
            return 0.0 if entry is None or entry.window != self._window(time.time()) else entry.spent

    def keys(self) -> int:
        """How many keys are tracked now."""
        return len(self._entries)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        """Stop tracking: the budget no longer counts or raises."""
        _unregister(self)


_budgets: tuple[Budget, ...] = ()
_raising: tuple[Budget, ...] = ()
_registry_lock = threading.Lock()


def budget(
    limit_usd: float,
    *,
    per: str | Callable[[dict[str, Any]], str | None] = "global",
    window: str | float | timedelta | None = None,
    on_exceed: str | Callable[[BudgetEvent], Any] = "warn",
    name: str | None = None,
    max_keys: int = 10_000,
) -> Budget:
    """Track spend against ``limit_usd`` (USD) and act once per crossing.

    ``per``: ``"global"`` (default), ``"service"``, ``"user"``, ``"session"``, ``"conversation"``,
    ``"model"``, ``"provider"``, or a callable that maps the call's context attributes to a key.
    Calls without a value for the key (no user set, for ``per="user"``) are not counted.
    ``window``: ``None`` (no reset), a ``timedelta``, seconds, or ``"30m"``, ``"1h"``, ``"1d"``, ``"7d"``.
    ``on_exceed``: ``"warn"``, ``"raise"`` (the next call raises :class:`BudgetExceeded`) or a callable.
    """
    global _budgets, _raising
    created = Budget(limit_usd, per=per, window=window, on_exceed=on_exceed, name=name, max_keys=max_keys)
    with _registry_lock:
        _budgets = (*_budgets, created)
        _raising = tuple(b for b in _budgets if b.on_exceed == "raise")
    return created


def _unregister(target: Budget) -> None:
    global _budgets, _raising
    with _registry_lock:
        _budgets = tuple(b for b in _budgets if b is not target)
        _raising = tuple(b for b in _budgets if b.on_exceed == "raise")


def record(cost_usd: float, ctx: otel_context.Context, provider: str, model: str | None) -> None:
    """Count a call's cost against every budget (called by the instrumentation core)."""
    for b in _budgets:
        b.add(cost_usd, ctx, provider, model)


def check_before_call(provider: str | None = None, model: str | None = None) -> None:
    """Raise :class:`BudgetExceeded` if a ``"raise"`` budget is spent for the current context."""
    if _raising:
        ctx = otel_context.get_current()
        for b in _raising:
            b.check(ctx, provider, model)


def has_budgets() -> bool:
    return bool(_budgets)
