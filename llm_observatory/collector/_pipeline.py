"""From an accepted request to stored rows: decode, spool (durable), acknowledge, then store.

``submit`` runs on the receiving thread: it decodes (a malformed request is refused before
anything is written), refuses when too much is waiting (the sender retries later), appends the
request to the spool, waits for the fsync, and returns: the caller then acknowledges. One writer
thread takes what is waiting, in spool order, stores it in one transaction per batch, and moves
the spool's committed position. A failing store is retried; nothing acknowledged is dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from ._otlp import Accepted, Batch, accept, decode
from ._spool import Position, Spool
from .store import Store

logger = logging.getLogger("llm_observatory.collector")


class Overloaded(Exception):
    """Too much is waiting to be stored: answer 429 / RESOURCE_EXHAUSTED, the sender retries."""


class ShuttingDown(Exception):
    """The collector is stopping and takes nothing more."""


class Pipeline:
    def __init__(self, store: Store, spool: Spool, *, max_pending: int = 200_000, batch_rows: int = 20_000,
                 linger_s: float = 0.05) -> None:
        self.store = store
        self.spool = spool
        self.max_pending = max_pending
        self.batch_rows = batch_rows
        self.linger_s = linger_s
        self._queue: deque[tuple[Position, Accepted]] = deque()
        self._pending = 0
        self._order = threading.Lock()
        self._wake = threading.Condition(self._order)
        self._stopping = False
        self._idle = threading.Event()
        self._idle.set()
        #: Counters for the health endpoint and the tests.
        self.stats = {"accepted": 0, "refused_overload": 0, "stored_rows": 0, "store_errors": 0, "replayed": 0}
        self._thread = threading.Thread(target=self._run, name="llm-observatory-collector-writer", daemon=True)

    def start(self) -> None:
        self._replay()
        self._thread.start()

    def _replay(self) -> None:
        """Store what was acknowledged but not yet stored when the collector last stopped."""
        batch, last, count = Batch(), None, 0
        for position, signal, body, is_json in self.spool.replay():
            try:
                batch.extend(decode(signal, body, is_json))
            except Exception as exc:  # it was valid when accepted; keep going if it no longer is
                logger.error("LLM Observatory collector: spool record at %s not replayed: %s", position, exc)
            last, count = position, count + 1
            if len(batch) >= self.batch_rows:
                self._store(batch)
                batch = Batch()
        if last is not None:
            if len(batch):
                self._store(batch)
            self.spool.commit(last)
            self.stats["replayed"] = count
            logger.info("LLM Observatory collector: replayed %d acknowledged requests from the spool", count)

    def submit(self, signal: str, body: bytes, is_json: bool) -> int:
        """Accept one request (validated, durable) or raise; returns how many items it held."""
        accepted = accept(signal, body, is_json)
        size = accepted.items
        with self._order:
            if self._stopping:
                raise ShuttingDown()
            if self._pending + size > self.max_pending and self._pending:
                self.stats["refused_overload"] += 1
                raise Overloaded()
            position = self.spool.append(signal, body, is_json)
            self._queue.append((position, accepted))
            self._pending += size
            self._idle.clear()
            self._wake.notify()
        self.spool.sync(position)
        self.stats["accepted"] += 1
        return size

    def _take(self) -> tuple[Position, Batch, int] | None:
        with self._order:
            while not self._queue:
                if self._stopping:
                    return None
                self._idle.set()
                self._wake.wait(0.5)
            deadline = time.monotonic() + self.linger_s
            while (sum(a.items for _, a in self._queue) < self.batch_rows and not self._stopping
                   and time.monotonic() < deadline):
                self._wake.wait(max(0.0, deadline - time.monotonic()))
            taken: list[Accepted] = []
            last, items = self._queue[0][0], 0
            while self._queue and items < self.batch_rows:
                last, accepted = self._queue.popleft()
                taken.append(accepted)
                items += accepted.items
        merged = Batch()  # made outside the lock: receivers go on accepting meanwhile
        for accepted in taken:
            try:
                merged.extend(accepted.rows())
            except Exception as exc:
                logger.error("LLM Observatory collector: an accepted %s request could not be stored: %s",
                             accepted.signal, exc)
        return last, merged, items

    def _store(self, batch: Batch) -> None:
        delay = 0.1
        while True:
            try:
                self.store.write(batch)
                self.stats["stored_rows"] += len(batch)
                return
            except Exception as exc:
                self.stats["store_errors"] += 1
                logger.error("LLM Observatory collector: storing failed (%s); retrying in %.1f s "
                             "(the data is safe in the spool)", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _run(self) -> None:
        while True:
            item = self._take()
            if item is None:
                self._idle.set()
                return
            position, batch, items = item
            self._store(batch)
            self.spool.commit(position)
            with self._order:
                self._pending -= items

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything accepted so far is stored."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._order:
                if not self._queue and self._pending == 0:
                    return True
            time.sleep(0.01)
        return False

    def stop(self, timeout: float = 30.0) -> None:
        """Refuse new requests, store what is waiting, and stop the writer."""
        with self._order:
            self._stopping = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.spool.close()

    @property
    def pending(self) -> int:
        return self._pending
