"""Exporters: a readable console tree for development, and the guard around remote exporters."""

from ._console import ConsoleTreeExporter

__all__ = ["ConsoleTreeExporter"]
