"""The append-only spool: a request is on disk (written and fsynced) before it is acknowledged.

Records are appended to segment files (``spool-000001.log``, ...), each record a header
(magic, length, CRC-32, signal, format) and the request body as received (decompressed). The
writer thread stores decoded requests in spool order and records, in ``committed``, the position
up to which everything is stored. At start, the records after that position are replayed; a torn
last record (a crash mid-write) fails its length or CRC check and is ignored: it was never
acknowledged. Concurrent requests share one fsync (group commit). Fully stored segments are deleted.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_HEADER = struct.Struct("<4sIIBB")
_MAGIC = b"LOS1"
_SIGNALS = {"traces": 1, "metrics": 2, "logs": 3}
_NAMES = {v: k for k, v in _SIGNALS.items()}
#: A segment is closed and a new one started past this size.
SEGMENT_BYTES = 64 * 1024 * 1024

Position = tuple[int, int]  # (segment number, offset after the record)


def _records(fh: BinaryIO) -> Iterator[tuple[int, str, bytes, bool]]:
    """``(offset after, signal, body, is_json)`` of each record from the file's position, up to the
    end or to a torn record (a write cut by a crash: never acknowledged)."""
    while True:
        header = fh.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        magic, length, crc, signal, is_json = _HEADER.unpack(header)
        body = fh.read(length)
        if magic != _MAGIC or len(body) < length or zlib.crc32(body) != crc or signal not in _NAMES:
            return
        yield fh.tell(), _NAMES[signal], body, bool(is_json)


class Spool:
    def __init__(self, directory: str | Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self.committed: Position = self._read_committed()
        segments = self.segments()
        self._segment = max(segments[-1] if segments else 1, self.committed[0])
        self._repair(self._segment)
        self._file = open(self._path(self._segment), "ab")  # noqa: SIM115 - kept open for appends
        self._written: Position = (self._segment, self._file.tell())
        self._synced: Position = self._written

    # --- files --------------------------------------------------------------------------------
    def _path(self, segment: int) -> Path:
        return self.dir / f"spool-{segment:06d}.log"

    def segments(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.dir.glob("spool-*.log"))

    def _read_committed(self) -> Position:
        try:
            text = (self.dir / "committed").read_text().split()
            return int(text[0]), int(text[1])
        except (OSError, ValueError, IndexError):
            return (0, 0)

    def _repair(self, segment: int) -> None:
        """Cut a torn record off the end of the last segment, so new records follow valid ones."""
        path = self._path(segment)
        if not path.exists():
            return
        with open(path, "rb") as fh:
            end = max((record[0] for record in _records(fh)), default=0)
        if end < path.stat().st_size:
            with open(path, "r+b") as fh:
                fh.truncate(end)
                os.fsync(fh.fileno())

    # --- appending ----------------------------------------------------------------------------
    def append(self, signal: str, body: bytes, is_json: bool) -> Position:
        """Write one request; returns its position (not yet durable: see :meth:`sync`)."""
        header = _HEADER.pack(_MAGIC, len(body), zlib.crc32(body), _SIGNALS[signal], int(is_json))
        with self._lock:
            if self._file.tell() >= self.segment_bytes:
                self._rotate()
            self._file.write(header)
            self._file.write(body)
            self._written = (self._segment, self._file.tell())
            return self._written

    def _rotate(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._segment += 1
        self._file = open(self._path(self._segment), "ab")  # noqa: SIM115

    def sync(self, position: Position) -> None:
        """Return once everything up to ``position`` is on disk; one fsync serves every waiter."""
        if self._synced >= position:
            return
        with self._sync_lock:
            if self._synced >= position:
                return
            with self._lock:
                self._file.flush()
                target, fileno = self._written, self._file.fileno()
            os.fsync(fileno)
            self._synced = target

    # --- committing and replaying ---------------------------------------------------------------
    def commit(self, position: Position) -> None:
        """Everything up to ``position`` is in the store: remember it, and drop finished segments."""
        if position <= self.committed:
            return
        tmp = self.dir / "committed.tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{position[0]} {position[1]}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.dir / "committed")
        self.committed = position
        for segment in self.segments():
            if segment < position[0]:
                try:
                    self._path(segment).unlink()
                except OSError:
                    pass

    def replay(self) -> Iterator[tuple[Position, str, bytes, bool]]:
        """The records written after the committed position, in order."""
        start_segment, start_offset = self.committed
        for segment in self.segments():
            if segment < start_segment:
                continue
            offset = start_offset if segment == start_segment else 0
            with open(self._path(segment), "rb") as fh:
                fh.seek(offset)
                for end, signal, body, is_json in _records(fh):
                    yield (segment, end), signal, body, is_json

    def close(self) -> None:
        with self._lock:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
