"""The price table: genai-prices data resolved once per model, then priced with plain arithmetic.

``genai_prices.calc_price`` costs 0.2–0.5 ms a call. Cost is linear in each token count within a
price tier, so the first call for a (provider, model) derives that model's per-token rates from
genai-prices itself (``ModelPrice.calc_price`` on exact one-token probes, once per tier region);
every later call is a dict lookup and a few multiplications. The result equals ``calc_price``
for usages made of input, output, cache-read and cache-write tokens, and of the less common
units in :data:`EXTRA_UNITS` (1-hour cache writes, audio tokens, web and file searches), whose rates are
derived the same way on a model's first call that reports one.

Overrides (:class:`PriceOverride`, from code or a file) win over the data.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import logging
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from . import Cost, _background

if TYPE_CHECKING:
    from decimal import Decimal

logger = logging.getLogger("llm_observatory")

#: Our ``gen_ai.provider.name`` values → genai-prices provider ids.
PROVIDER_IDS = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "mistral_ai": "mistral",
    "cohere": "cohere",
    "groq": "groq",
    "deepseek": "deepseek",
    "x_ai": "x-ai",
    "perplexity": "perplexity",
    "moonshot_ai": "moonshotai",
}

#: Modules the price data imports that an SDK looks up in ``sys.modules`` rather than importing,
#: with the SDKs that do (openai's client looks ``httpx2`` up on every request). An import running
#: in a background thread is visible there half-initialised, and the application's call fails.
RACY_IMPORTS: dict[str, tuple[str, ...]] = {"httpx2": ("openai",)}
#: How long an SDK's import waits, at most, for the background import of such a module.
RACY_IMPORT_WAIT_S = 10.0

#: The less common usage units a call may report, by their genai-prices usage key, each with the
#: unit it is part of (its price replaces that unit's for these) and the side of the cost it adds
#: to: ``(parent usage key or None, "input" | "output" | "other")``. A unit the model has no price
#: for costs what its parent costs (genai-prices' own rule); one without a parent then costs nothing.
EXTRA_UNITS: dict[str, tuple[str | None, str]] = {
    "cache_write_1h_tokens": ("cache_write_tokens", "input"),  # Anthropic's 1-hour cache writes
    "input_audio_tokens": ("input_tokens", "input"),
    "output_audio_tokens": ("output_tokens", "output"),
    "web_searches": (None, "other"),  # a fee per search (Anthropic's server tool, OpenAI's hosted tool)
    "storage_searches": (None, "other"),  # a fee per file search (OpenAI's hosted file_search tool)
}

#: How long a model with time-dependent prices (dated changes, off-peak hours) keeps its rates.
CONDITIONAL_TTL_S = 60.0
_MTOK = 1_000_000


@dataclass(frozen=True)
class PriceOverride:
    """A price given by the user, in USD per million tokens.

    ``model`` is an exact name or a glob pattern (``my-ft-*``); ``provider`` (a
    ``gen_ai.provider.name`` value) restricts it to one provider; ``since`` makes it apply from
    that date on (the latest applicable entry wins). Cache prices default to the input price.
    """

    model: str
    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    provider: str | None = None
    since: date | None = None

    def matches(self, provider: str, model: str) -> bool:
        if self.provider is not None and self.provider != provider:
            return False
        name = model.lower()
        pattern = self.model.lower()
        return name == pattern or fnmatch.fnmatchcase(name, pattern)


class _Rates:
    """Per-token rates of one model: one ``(input, output, cache_read, cache_write)`` per tier region.

    A rate of ``None`` means genai-prices cannot price that kind of token for this model; a call
    that uses it is unpriced rather than priced wrongly. ``expires`` is a ``time.monotonic()``
    deadline for time-dependent prices, 0 for prices that never change. ``source`` is the
    genai-prices price the rates came from (``None`` for an override), from which the rate of an
    :data:`EXTRA_UNITS` unit is derived on its first use (``extra``: unit → one rate per region,
    the difference from its parent's rate).
    """

    __slots__ = ("expires", "extra", "per_request", "rates", "source", "thresholds")

    def __init__(self, thresholds: tuple[int, ...], rates: tuple[tuple[float | None, ...], ...],
                 per_request: float, expires: float, source: Any = None) -> None:
        self.thresholds = thresholds
        self.rates = rates
        self.per_request = per_request
        self.expires = expires
        self.source = source
        self.extra: dict[str, tuple[float | None, ...]] = {}

    def cost(self, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int,
             extra: Mapping[str, int] | None = None) -> Cost | None:
        region = 0
        for threshold in self.thresholds:
            if input_tokens > threshold:
                region += 1
        a, b, c, d = self.rates[region]
        if a is None or b is None or (cache_read and c is None) or (cache_write and d is None):
            return None
        uncached = input_tokens - cache_read - cache_write
        if uncached < 0:  # more cached tokens than input tokens: a usage that cannot be priced
            return None
        inp = uncached * a
        if cache_read:
            inp += cache_read * c  # type: ignore[operator]
        if cache_write:
            inp += cache_write * d  # type: ignore[operator]
        out = output_tokens * b
        other = self.per_request
        if extra:
            for unit, count in extra.items():
                if not count or unit not in EXTRA_UNITS:
                    continue
                rates = self.extra.get(unit)
                if rates is None:
                    rates = self.extra[unit] = _probe_extra(self.source, self.thresholds, unit)
                delta = rates[region]
                if delta is None:
                    return None
                side = EXTRA_UNITS[unit][1]
                if side == "input":
                    inp += count * delta
                elif side == "output":
                    out += count * delta
                else:
                    other += count * delta
        return Cost(inp + out + other, inp, out)


def _override_rates(entry: PriceOverride) -> _Rates:
    a = entry.input / _MTOK
    c = a if entry.cache_read is None else entry.cache_read / _MTOK
    d = a if entry.cache_write is None else entry.cache_write / _MTOK
    return _Rates((), ((a, entry.output / _MTOK, c, d),), 0.0, 0.0)


def _region_sizes(thresholds: tuple[int, ...]) -> list[int]:
    """An input size inside each tier region, as the probes use."""
    sizes = []
    for k in range(len(thresholds) + 1):
        n = 1 if k == 0 else thresholds[k - 1] + 1
        if k == 0 and thresholds and thresholds[0] < 1:
            n = 0
        sizes.append(n)
    return sizes


def _probe_extra(model_price: Any, thresholds: tuple[int, ...], unit: str) -> tuple[float | None, ...]:
    """Per region, what one ``unit`` adds to the cost beyond its parent unit (``EXTRA_UNITS``),
    from genai-prices' arithmetic: 0 for an override (priced as its parent), ``None`` where
    genai-prices cannot price it."""
    if model_price is None:
        return (0.0,) * (len(thresholds) + 1)
    from genai_prices.types import Usage

    parent, side = EXTRA_UNITS[unit]
    index = {"input": "input_price", "output": "output_price", "other": "total_price"}[side]
    rates: list[float | None] = []
    for n in _region_sizes(thresholds):
        base_usage = {"input_tokens": n}
        if parent is not None and parent != "input_tokens":
            base_usage[parent] = 1  # (a region of empty inputs has no cache writes: None below)
        try:
            base = model_price.calc_price(Usage(**base_usage))
            more = model_price.calc_price(Usage(**base_usage, **{unit: 1}))
        except (ValueError, LookupError, ArithmeticError):
            rates.append(None)
            continue
        except Exception as exc:  # a genai-prices release without the unit: priced as its parent, as before
            logger.debug("LLM Observatory: no rate for %s from the price data: %r", unit, exc)
            return (0.0,) * (len(thresholds) + 1)
        rates.append(float(more[index] - base[index]))
    return tuple(rates)


def _probe_rates(model_price: Any) -> tuple[tuple[int, ...], tuple[tuple[float | None, ...], ...], float]:
    """Derive per-token rates from genai-prices' own arithmetic, exactly (Decimal) then as floats."""
    from decimal import Decimal

    from genai_prices.types import TieredPrices, Usage

    starts: set[int] = set()
    for value in vars(model_price).values():
        if isinstance(value, TieredPrices):
            starts.update(t.start for t in value.tiers)
    thresholds = tuple(sorted(starts))

    def calc(**usage: int) -> tuple[Decimal, Decimal, Decimal] | None:
        try:
            price = model_price.calc_price(Usage(**usage))
        except (ValueError, LookupError, ArithmeticError):
            return None
        return price["input_price"], price["output_price"], price["total_price"]

    zero = calc()
    if zero is None:
        raise LookupError("model has no token prices")
    per_request = zero[2] - zero[0] - zero[1]
    regions: list[tuple[float | None, ...]] = []
    for n in _region_sizes(thresholds):
        base = calc(input_tokens=n)
        if base is None:
            regions.append((None, None, None, None))
            continue
        a = base[0] / n if n else Decimal(0)
        with_out = calc(input_tokens=n, output_tokens=1)
        b = None if with_out is None else with_out[1] - base[1]
        c = d = None
        if n:
            with_read = calc(input_tokens=n, cache_read_tokens=1)
            c = None if with_read is None else with_read[0] - base[0] + a
            with_write = calc(input_tokens=n, cache_write_tokens=1)
            d = None if with_write is None else with_write[0] - base[0] + a
        regions.append(tuple(None if r is None else float(r) for r in (a, b, c, d)))
    return thresholds, tuple(regions), float(per_request)


class PriceTable:
    """Prices model calls. Thread-safe; lookups are memoised per (provider, model)."""

    def __init__(self, overrides: Sequence[PriceOverride] = (), *, use_genai_prices: bool = True) -> None:
        self._overrides = list(overrides)
        self._use_data = use_genai_prices
        self._memo: dict[tuple[str, ...], _Rates | None] = {}
        self._lock = threading.Lock()
        self._warned: set[tuple[str, str]] = set()
        self._warming = False

    def cost(
        self, provider: str, model: str, input_tokens: int, output_tokens: int,
        cache_read_tokens: int = 0, cache_write_tokens: int = 0, *, at: datetime | None = None,
        fallback: str | None = None, extra: Mapping[str, int] | None = None,
        variant: tuple[str, str] | None = None,
    ) -> Cost | None:
        """The cost of a call, or ``None`` when the model has no known price (never $0).

        ``fallback``: a second name to try (the request model, when ``model`` is the response's).
        ``extra``: counts of the units in :data:`EXTRA_UNITS` (by genai-prices usage key), each
        part of its parent unit's count (1-hour cache writes are among the cache writes).
        ``variant``: how the provider served the call, where that sets the price, as a
        genai-prices price-variant key and value: ``("service_tier", "flex")`` (OpenAI's
        response tier), ``("speed", "fast")`` (Anthropic). A value without a price of its own
        (``"default"``) is priced as the model is; overrides apply whatever the variant.
        """
        key = (provider, model) if variant is None else (provider, model, *variant)
        rates = self._memo.get(key, _MISSING) if at is None else _MISSING
        if rates is _MISSING or (rates is not None and rates.expires and rates.expires < time.monotonic()):
            rates = self._rates(provider, model, at, variant)
        if rates is None and fallback and fallback != model:
            rates = self._rates(provider, fallback, at, variant)
        if rates is None:
            self._warn_unpriced(provider, model)
            return None
        return rates.cost(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, extra)

    def _rates(self, provider: str, model: str, at: datetime | None,
               variant: tuple[str, str] | None = None) -> _Rates | None:
        if at is not None:
            rates = self._resolve(provider, model, at, variant)
        else:
            key = (provider, model) if variant is None else (provider, model, *variant)
            rates = self._memo.get(key, _MISSING)  # type: ignore[arg-type]
            if rates is _MISSING or (rates is not None and rates.expires and rates.expires < time.monotonic()):
                rates = self._resolve(provider, model, None, variant)
                with self._lock:
                    self._memo[key] = rates
        return rates

    def warm_up(self) -> threading.Thread | None:
        """Load the genai-prices data in a background thread, so the first priced call is quick.

        Once per table; later calls return ``None``. A module of :data:`RACY_IMPORTS` that the data
        needs is imported first, and an SDK that would look it up waits, in its own import, until it
        is complete. If such an SDK is imported already, nothing is loaded in the background (it
        could be running requests): the first priced call loads the data, on its own thread.
        """
        if not self._use_data:
            return None
        racy = _pending_racy_imports()
        if racy is None:
            return None
        with self._lock:
            if self._warming:
                return None
            self._warming = True
        ready = threading.Event()
        if racy:
            from ..instrumentation._core._imports import when_imported

            def wait(_module: object) -> None:
                ready.wait(RACY_IMPORT_WAIT_S)

            for sdk in {sdk for name in racy for sdk in RACY_IMPORTS[name]}:
                when_imported(sdk, wait)

        def load() -> None:
            try:
                for name in racy:
                    importlib.import_module(name)
            except Exception as exc:
                logger.debug("LLM Observatory: price data warm-up failed: %s", exc)
                return
            finally:
                ready.set()
            try:
                self._from_data("openai", "gpt-4o", None)
            except Exception as exc:
                logger.debug("LLM Observatory: price data warm-up failed: %s", exc)

        return _background.start(load, name="llm-observatory-prices")

    def _warn_unpriced(self, provider: str, model: str) -> None:
        key = (provider, model)
        if key in self._warned:
            return
        with self._lock:
            if key in self._warned or len(self._warned) > 10_000:
                return
            self._warned.add(key)
        logger.warning("LLM Observatory: no price known for model %r (provider %s); its calls are recorded "
                       "with llm.cost.priced=false. Add a price with init(prices=...)", model, provider)

    def _resolve(self, provider: str, model: str, at: datetime | None,
                 variant: tuple[str, str] | None = None) -> _Rates | None:
        override = self._find_override(provider, model, at)
        if override is not None:
            return _override_rates(override)
        if not self._use_data:
            return None
        try:
            return self._from_data(provider, model, at, variant)
        except Exception as exc:  # a data problem must not break the call
            logger.debug("LLM Observatory: pricing %s/%s failed: %s", provider, model, exc)
            return None

    def _find_override(self, provider: str, model: str, at: datetime | None) -> PriceOverride | None:
        day = (at or datetime.now(timezone.utc)).date()
        best: PriceOverride | None = None
        for entry in self._overrides:
            if entry.since is not None and entry.since > day:
                continue
            if not entry.matches(provider, model):
                continue
            if best is None or (entry.since or date.min) >= (best.since or date.min):
                best = entry
        return best

    def _from_data(self, provider: str, model: str, at: datetime | None,
                   variant: tuple[str, str] | None = None) -> _Rates | None:
        from genai_prices import data_snapshot

        snapshot = data_snapshot.get_snapshot()
        provider_id = PROVIDER_IDS.get(provider, provider)
        candidates = [model]
        if "/" in model:
            candidates.append(model.rsplit("/", 1)[1])
        found = None
        for pid in (provider_id, None):
            for ref in candidates:
                try:
                    found = snapshot.find_provider_model(ref, None, pid, None)
                    break
                except LookupError:
                    continue
            if found is not None:
                break
        if found is None:
            return None
        _provider, info = found
        when = at or datetime.now(timezone.utc)
        prices = info.get_prices(when, {variant[0]: variant[1]} if variant else None)
        thresholds, regions, per_request = _probe_rates(prices)
        conditional = not hasattr(info.prices, "input_mtok") and isinstance(info.prices, list)
        expires = time.monotonic() + CONDITIONAL_TTL_S if conditional else 0.0
        return _Rates(thresholds, regions, per_request, expires, prices)


def _pending_racy_imports() -> list[str] | None:
    """The :data:`RACY_IMPORTS` modules not imported yet, or ``None`` if one of the SDKs that look
    them up is imported already (a background import could race its requests)."""
    pending = []
    for name, sdks in RACY_IMPORTS.items():
        if name in sys.modules:
            continue
        try:
            if importlib.util.find_spec(name) is None:
                continue
        except (ImportError, ValueError):
            continue
        if any(sdk in sys.modules for sdk in sdks):
            return None
        pending.append(name)
    return pending


_MISSING = _Rates((), ((None, None, None, None),), 0.0, -1.0)
