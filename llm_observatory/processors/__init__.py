"""Span processing: context enrichment, redaction, head and tail sampling."""

from ._enrich import ContextEnrichmentProcessor
from ._redaction import RedactingSpanExporter, RedactionOptions, Redactor
from ._sampling import Rule, RuleSampler, TailSamplingOptions, TailSamplingProcessor

__all__ = ["ContextEnrichmentProcessor", "RedactingSpanExporter", "RedactionOptions", "Redactor", "Rule",
           "RuleSampler", "TailSamplingOptions", "TailSamplingProcessor"]
