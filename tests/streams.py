"""Test helper streams."""

from __future__ import annotations

import io


class OneWayStream(io.RawIOBase):
    """A non-seekable stream (like a socket or pipe) that hands out ``data`` ``step`` bytes at a time."""

    def __init__(self, data: bytes, step: int = 70_001):
        self._data, self._pos, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self._step if n < 0 else min(n, self._step)
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk
