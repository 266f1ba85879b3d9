"""Gzip inflation that keeps everything before a damaged or cut-off stream."""

from __future__ import annotations

import gzip
import zlib
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
    out: list[bytes] = []
    err = _inflate_chunked(data, out)
    return Inflated(b"".join(out), err)


def _inflate_chunked(data: bytes, out: list[bytes]) -> str | None:
    """Slow path: inflate in chunks so that the output before the damage is kept."""
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
                out.append(d.decompress(chunk))
            except zlib.error as e:
                out.append(_salvage(before, chunk))
                return f"corrupt compressed stream: {e}"
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
