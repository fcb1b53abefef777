"""Background loads (the price data, the tokenizer's encodings): daemon threads that import.

A thread stopped inside an import keeps that import's locks, and the next import of the process
waits for them forever. Two moments stop our threads where they are: the interpreter's teardown
(daemon threads still running are stopped; a finalizer may import after that) and ``fork()`` (the
child has only the forking thread). So the exit and every fork first wait for the loads still
running, at most :data:`WAIT_S` seconds; a load takes 0.1–1 s.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections.abc import Callable

#: How long the exit, or a ``fork()``, waits at most for the loads still running.
WAIT_S = 5.0

#: The loads started (a thread is dropped from here once it is gone).
_loaders: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_lock = threading.Lock()
_exit_hook = False


def start(target: Callable[..., object], *args: object, name: str) -> threading.Thread:
    """Run ``target(*args)`` in a daemon thread that the exit and forks wait for."""
    global _exit_hook
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    with _lock:
        if not _exit_hook:
            _exit_hook = True
            atexit.register(wait)
        _loaders.add(thread)
    thread.start()
    return thread


def wait() -> None:
    """Wait for the loads still running, at most :data:`WAIT_S` seconds in all."""
    deadline = time.monotonic() + WAIT_S
    for thread in list(_loaders):
        if thread.is_alive() and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=wait)
