"""Gzip inflation that keeps everything before a damaged or cut-off stream: whole, or block by
block (`InflateStream`) so a big file never has to be held inflated."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass

GZIP_MAGIC = b"\x1f\x8b"
# RFC 1952: ID1 ID2 and CM = 8 (deflate, the only method defined). Two bytes alone are not
# enough: a damaged plain log can start with them (found by exploring the fuzz test), and
# taking it for a broken gzip stream would lose the records it still holds.
GZIP_HEADER = GZIP_MAGIC + b"\x08"
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Inflated:
    data: bytes
    error: str | None  # why the stream stopped early; None when it was complete
    reason: str = "corrupt_stream"  # the quarantine reason of `error`


def is_gzip(data: bytes) -> bool:
    return data[:3] == GZIP_HEADER


def inflate(data: bytes, gzip_expected: bool = False) -> Inflated:
    """Decompress gzip bytes (several members allowed); plain bytes pass through.

    On a damaged or truncated stream, returns all bytes inflated before the damage (as much as
    `zcat` writes) and the error text, never raises. `gzip_expected` (a `.gz` name): an empty
    file is then a damaged stream, not an empty log.
    """
    if gzip_expected and not data:
        return Inflated(data, "empty file where a gzip stream was expected")
    if not is_gzip(data):
        return Inflated(data, None)
    try:
        return Inflated(gzip.decompress(data), None)
    except (OSError, EOFError, zlib.error):
        pass
    stream = InflateStream(data)
    out = b"".join(stream)
    return Inflated(out, stream.error, stream.reason)


class InflateStream:
    """A stored file's bytes inflated block by block (a plain file: in blocks of
    `plain_block` bytes, or whole). Iterate it once; then `error` says why the stream stopped
    early (None: it was complete) and `reason` is that error's quarantine reason, as
    `inflate` gives them. `failed` stands for a file that could not be read at all."""

    def __init__(self, data: bytes, gzip_expected: bool = False, plain_block: int | None = None):
        self.data, self.gzip_expected, self.plain_block = data, gzip_expected, plain_block
        self.error: str | None = None
        self.reason = "corrupt_stream"
        self._read = False

    @classmethod
    def failed(cls, error: str, reason: str) -> InflateStream:
        stream = cls(b"")
        stream.error, stream.reason, stream._read = error, reason, True
        return stream

    def __iter__(self) -> Iterator[bytes]:
        if self._read:
            return
        self._read = True
        data = self.data
        self.data = b""  # the caller's copy is the only one kept
        if self.gzip_expected and not data:
            self.error = "empty file where a gzip stream was expected"
            return
        if not is_gzip(data):
            step = self.plain_block or max(len(data), 1)
            for pos in range(0, len(data), step):
                yield data[pos : pos + step] if step < len(data) else data
            return
        self.error = yield from _inflate_chunked(data)


def _inflate_chunked(data: bytes) -> Generator[bytes, None, str | None]:
    """Inflate in chunks, yielding the output as it comes, so that the output before damage
    is kept; returns why the stream stopped early (None: complete)."""
    pos = 0
    while pos < len(data):
        if not is_gzip(data[pos : pos + 3]):
            if data[pos:].strip(b"\x00"):
                return "trailing garbage after compressed stream"
            return None
        d = zlib.decompressobj(wbits=31)
        member_start = pos
        while not d.eof:
            chunk = data[pos : pos + _CHUNK]
            if not chunk:
                return "unexpected end of compressed stream"
            before = d.copy()
            try:
                block = d.decompress(chunk)
            except zlib.error as e:
                yield _salvage(before, chunk)
                return f"corrupt compressed stream: {e}"
            if block:
                yield block
            pos += len(chunk)
        # unused_data belongs to the next member
        pos -= len(d.unused_data)
        if pos <= member_start:
            return "corrupt compressed stream"
    return None


def _salvage(d, chunk: bytes) -> bytes:
    """What `d` inflates of `chunk` before the damage: zlib drops the output of a call that
    fails, so the damaged chunk is fed again a byte at a time (rare, and at most _CHUNK calls)."""
    got = []
    for i in range(len(chunk)):
        try:
            got.append(d.decompress(chunk[i : i + 1]))
        except zlib.error:
            break
    return b"".join(got)
