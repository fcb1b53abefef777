"""Span processors: context enrichment (and, with their issues, redaction and sampling)."""

from ._enrich import ContextEnrichmentProcessor

__all__ = ["ContextEnrichmentProcessor"]
