"""The provider-agnostic instrumentation core shared by every adapter.

Follow one call: an adapter's wrapper (built by :mod:`._wrap`) asks its ``CallHandler`` for an
:class:`~._inference.Inference`; the inference starts the span; the wrapper calls the original
method, and either ends the inference with the response or hands a stream to
:mod:`._stream`, which ends it exactly once. Ending an inference sets the attributes, prices the
call and records the metrics (:mod:`._metrics`).
"""
