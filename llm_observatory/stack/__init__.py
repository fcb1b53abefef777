"""The bundled stack: package data written by ``llm-observatory stack init``."""
