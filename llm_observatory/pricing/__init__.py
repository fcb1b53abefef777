"""Cost of model calls, and token estimates when a provider sends no usage.

The instrumentation core asks the :class:`Pricer` in force for the cost of each call with token
counts. The default pricer is a :class:`PriceTable` over the ``genai-prices`` data shipped with that
package (offline), plus any overrides given with ``init(prices=...)`` or ``LLM_OBSERVATORY_PRICES``.
A model without a known price gives ``None``: the call is flagged ``llm.cost.priced=false`` and
counted as unpriced, never reported as $0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, Protocol


class Cost(NamedTuple):
    """Cost of one call in USD: ``input`` includes cached input, ``output`` includes reasoning."""

    total: float
    input: float
    output: float


class Pricer(Protocol):
    def cost(
        self, provider: str, model: str, input_tokens: int, output_tokens: int,
        cache_read_tokens: int = 0, cache_write_tokens: int = 0, *, fallback: str | None = None,
        extra: Mapping[str, int] | None = None, variant: tuple[str, str] | None = None,
    ) -> Cost | None:
        """The cost of a call, or ``None`` when neither ``model`` nor ``fallback`` has a known price.

        ``extra`` (1-hour cache writes, audio tokens, web searches) and ``variant`` (the service
        tier or speed that served the call: see ``PriceTable``) are passed only for a call that
        has them, so a pricer written before they existed keeps working."""
        ...


from ._table import PriceOverride, PriceTable  # noqa: E402


class PricingConfigError(ValueError):
    """A price override (or the file holding it) is invalid; the message says where and why."""


def parse_overrides(value: object, where: str = "prices") -> list[PriceOverride]:
    """Overrides from a mapping ``{model: {input, output, ...}}``, a list of entries, or a file path."""
    from ._overrides import parse_overrides as parse

    return parse(value, where)

_default: PriceTable | None = None


def default_pricer() -> PriceTable:
    """The shared price table over genai-prices data, without overrides."""
    global _default
    if _default is None:
        _default = PriceTable()
    return _default


__all__ = ["Cost", "PriceOverride", "PriceTable", "Pricer", "PricingConfigError", "default_pricer",
           "parse_overrides"]
