"""Span processing: context enrichment, redaction, head and tail sampling.

Redaction and sampling load on first use, so ``init()`` pays for them only when they are on.
"""

from typing import Any

from ._enrich import ContextEnrichmentProcessor

_LAZY = {
    "RedactingSpanExporter": "._redaction", "RedactionOptions": "._redaction", "Redactor": "._redaction",
    "Rule": "._sampling", "RuleSampler": "._sampling", "TailSamplingOptions": "._sampling",
    "TailSamplingProcessor": "._sampling",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ContextEnrichmentProcessor", "RedactingSpanExporter", "RedactionOptions", "Redactor", "Rule",
           "RuleSampler", "TailSamplingOptions", "TailSamplingProcessor"]
