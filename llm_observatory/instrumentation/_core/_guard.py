"""The never-break guard: our own failures are logged once per site and never reach the user."""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger("llm_observatory")

_reported: set[str] = set()
_lock = threading.Lock()


def report(site: str, exc: BaseException) -> None:
    """Log an internal error of LLM Observatory at ``site`` (once per site, with traceback)."""
    with _lock:
        first = site not in _reported
        _reported.add(site)
    if first:
        logger.warning(
            "LLM Observatory: internal error in %s; the application call continues unaffected "
            "(further errors here are logged at debug level)", site, exc_info=exc,
        )
    else:
        logger.debug("LLM Observatory: internal error in %s", site, exc_info=exc)


def reported_sites() -> frozenset[str]:
    """Sites that have reported an error (for tests and diagnostics)."""
    with _lock:
        return frozenset(_reported)
