"""Gzip inflation that keeps everything before a damaged or cut-off stream."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass

GZIP_MAGIC = b"\x1f\x8b"
# Salvage granularity: zlib notices damage only a little after it, and the output of the call
# that fails is dropped, so small input chunks keep most good lines and little junk.
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Inflated:
    data: bytes
    error: str | None  # why the stream stopped early; None when it was complete


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def inflate(data: bytes) -> Inflated:
    """Decompress gzip bytes (several members allowed); plain bytes pass through.

    On a damaged or truncated stream, returns all bytes inflated before the damage and the
    error text, never raises.
    """
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
        if not is_gzip(data[pos : pos + 2]):
            if data[pos:].strip(b"\x00"):
                return "trailing garbage after compressed stream"
            return None
        d = zlib.decompressobj(wbits=31)
        member_start = pos
        while not d.eof:
            chunk = data[pos : pos + _CHUNK]
            if not chunk:
                return "unexpected end of compressed stream"
            try:
                out.append(d.decompress(chunk))
            except zlib.error as e:
                return f"corrupt compressed stream: {e}"
            pos += len(chunk)
        # unused_data belongs to the next member
        pos -= len(d.unused_data)
        if pos <= member_start:
            return "corrupt compressed stream"
    return None
