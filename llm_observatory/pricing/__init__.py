"""Cost of model calls.

The instrumentation core asks the :class:`Pricer` in force for the cost of each call that has
token counts. A model without a known price gives ``None``: the call is flagged
``llm.cost.priced=false`` and counted as unpriced, never reported as $0.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class Cost(NamedTuple):
    """Cost of one call in USD: ``input`` includes cached input, ``output`` includes reasoning."""

    total: float
    input: float
    output: float


class Pricer(Protocol):
    def cost(
        self, provider: str, model: str, input_tokens: int, output_tokens: int,
        cache_read_tokens: int = 0, cache_write_tokens: int = 0,
    ) -> Cost | None:
        """The cost of a call, or ``None`` when the model has no known price."""
        ...


def default_pricer() -> Pricer | None:
    """The pricer used when none is configured (none yet: every call is left unpriced)."""
    return None
