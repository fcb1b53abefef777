"""``genai_prices.calc_price``, the price table's oracle, for the adapters' cost tests."""

from __future__ import annotations

import pytest


def oracle_cost(model: str, provider_id: str, price_context: dict[str, str] | None = None, **usage: int) -> float:
    """What genai-prices charges for ``usage`` (its usage keys; zero counts left out), served as
    ``price_context`` says (``{"service_tier": "flex"}``). Skips the test where genai-prices is not
    installed (it needs Python 3.11+)."""
    genai_prices = pytest.importorskip("genai_prices", reason="genai-prices needs Python 3.11+")
    return float(genai_prices.calc_price(genai_prices.Usage(**{k: v for k, v in usage.items() if v}), model,
                                         provider_id=provider_id, price_context=price_context).total_price)
