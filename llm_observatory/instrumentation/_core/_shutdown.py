"""What is still open when telemetry shuts down is ended then, so its spans are exported, not lost.

In this order, at exit (one hook, registered when the first inference or framework unit starts:
after the tracer provider registered its own shutdown, and exit hooks run last registered first)
and in ``observatory.shutdown()``: the open streams, ended with what they read; then the calls
still running on another thread; then the framework units (LangChain runs, LlamaIndex spans)
still open, children first. Each span ends with ``llm.unfinished=true``.
"""

from __future__ import annotations

import atexit

from ._metrics import EXIT_WAIT_S, flush_all

#: :func:`end_open` is registered to run at exit (checked by every new inference and unit).
registered = False


def end_open() -> int:
    """End every stream, inference and framework unit still open, and record their metric points
    (before the meter provider shuts down); how many."""
    from ._framework import end_open_units
    from ._inference import end_unfinished
    from ._stream import end_open_streams

    ended = end_open_streams() + end_unfinished() + end_open_units()
    if ended:
        flush_all(timeout=EXIT_WAIT_S)
    return ended


def end_open_at_exit() -> None:
    """Register :func:`end_open` to run at exit, once."""
    global registered
    if not registered:
        registered = True
        atexit.register(end_open)
