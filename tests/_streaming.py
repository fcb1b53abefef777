"""A response body produced lazily, for the fake provider APIs (so a transport error can happen mid-stream)."""

from __future__ import annotations

from typing import Any


def lazy_body(httpx: Any, chunks: Any) -> Any:
    """A sync and async byte stream of ``chunks`` for the given httpx module (httpx or httpx2)."""

    class ByteStream(httpx.SyncByteStream, httpx.AsyncByteStream):  # type: ignore[misc,name-defined]
        def __iter__(self) -> Any:
            yield from chunks

        async def __aiter__(self) -> Any:
            for chunk in chunks:
                yield chunk

    return ByteStream()
