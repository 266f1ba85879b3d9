"""Gzip inflation that keeps everything before a damaged or cut-off stream: whole, or block by
block (`InflateStream`) so a big file never has to be held inflated."""

from __future__ import annotations

import functools
import gzip
import itertools
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import BinaryIO

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
    """A stored file's bytes inflated block by block: from `source`, its stored bytes or a
    binary file open on them (read a chunk at a time, so neither the stored nor the
    inflated file is ever held whole); a plain file comes in blocks of `plain_block` bytes
    (None: whole, from bytes). Iterate it once; then `error` says why the stream stopped
    early (None: it was complete) and `reason` is that error's quarantine reason, as
    `inflate` gives them. `failed` stands for a file that could not be read at all."""

    def __init__(
        self,
        source: bytes | BinaryIO,
        gzip_expected: bool = False,
        plain_block: int | None = None,
    ):
        self.source, self.gzip_expected, self.plain_block = source, gzip_expected, plain_block
        self.error: str | None = None
        self.reason = "corrupt_stream"
        self._read = False
        self._file = None if isinstance(source, bytes | bytearray | memoryview) else source

    def close(self) -> None:
        """Close the file it reads from, if it was given one."""
        file, self._file = self._file, None
        if file is not None:
            file.close()

    @classmethod
    def failed(cls, error: str, reason: str) -> InflateStream:
        stream = cls(b"")
        stream.error, stream.reason, stream._read = error, reason, True
        return stream

    def __iter__(self) -> Iterator[bytes]:
        if self._read:
            return
        self._read = True
        source, self.source = self.source, b""  # the caller's copy is the only one kept
        if isinstance(source, bytes | bytearray | memoryview):
            chunks: Iterator[bytes] = iter([bytes(source)] if len(source) else [])
        else:
            size = self.plain_block or _READ
            chunks = iter(functools.partial(source.read, size), b"")
        del source
        head = next(chunks, b"")
        while 0 < len(head) < len(GZIP_HEADER):  # a file object may return short reads
            more = next(chunks, b"")
            if not more:
                break
            head += more
        if self.gzip_expected and not head:
            self.error = "empty file where a gzip stream was expected"
            return
        if not is_gzip(head):
            yield from _plain_blocks(head, chunks, self.plain_block)
            return
        self.error = yield from _inflate_chunked(itertools.chain([head], chunks))


_READ = 1 << 20  # bytes read from a file object at a time


def _plain_blocks(head: bytes, chunks: Iterator[bytes], block: int | None) -> Iterator[bytes]:
    for data in itertools.chain([head], chunks):
        step = block or max(len(data), 1)
        for pos in range(0, len(data), step):
            yield data[pos : pos + step] if step < len(data) else data


def _inflate_chunked(chunks: Iterator[bytes]) -> Generator[bytes, None, str | None]:
    """Inflate a stream of compressed chunks, _CHUNK bytes fed at a time and yielding the
    output as it comes, so that the output before damage is kept (several members allowed);
    returns why the stream stopped early (None: complete)."""
    buf, pos = b"", 0  # compressed bytes at hand, and how far they were fed
    d = None  # the decompressor of the member being inflated
    fed = 0  # bytes fed to it
    while True:
        if pos >= len(buf):
            buf, pos = next(chunks, b""), 0
            if not buf:
                return None if d is None else "unexpected end of compressed stream"
        if d is None:  # a member starts here: its header, or the end of the data
            while len(buf) - pos < len(GZIP_HEADER):
                more = next(chunks, b"")
                if not more:
                    break
                buf, pos = buf[pos:] + more, 0
            if not is_gzip(buf[pos : pos + len(GZIP_HEADER)]):
                rest = itertools.chain([buf[pos:]], chunks)
                if any(c.strip(b"\x00") for c in rest):
                    return "trailing garbage after compressed stream"
                return None
            d, fed = zlib.decompressobj(wbits=31), 0
        chunk = buf[pos : pos + _CHUNK]
        pos += len(chunk)
        before = d.copy()
        try:
            block = d.decompress(chunk)
        except zlib.error as e:
            yield _salvage(before, chunk)
            return f"corrupt compressed stream: {e}"
        fed += len(chunk)
        if block:
            yield block
        if d.eof:  # unused_data belongs to the next member
            if fed - len(d.unused_data) <= 0:
                return "corrupt compressed stream"
            buf, pos, d = d.unused_data + buf[pos:], 0, None


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
