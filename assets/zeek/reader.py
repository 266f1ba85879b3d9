"""Read one Zeek log file's stored bytes (gzip or plain; TSV or JSON) into ZeekReads: the
whole file in one (`read_zeek`), or piece by piece of whole lines (`iter_zeek`), so that a
file of any size is read in bounded memory. The pieces hold exactly the records, problems
and line numbers of the whole read; only where segments begin and end differs.

Never raises on bad content: a damaged gzip stream keeps every complete line before the
damage and adds one `corrupt_stream` problem (raw = the partial line cut by the damage, if
any), so a corrupt stream counts as one record. A last line without a line end is a record
when it parses completely, else a `truncated_line` problem. CRLF line ends (Zeek logs moved
through Windows tools) read as LF: Zeek escapes a CR inside a value, so a CR before LF is
always part of the line end.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import BinaryIO

import polars as pl

from assets.zeek.escapes import text_of
from assets.zeek.header import Header
from assets.zeek.inflate import InflateStream
from assets.zeek.jsonlog import read_json
from assets.zeek.records import ZeekRead, problems
from assets.zeek.tsv import read_tsv_piece


def read_zeek(
    stored: bytes, numeric: Mapping[str, str] | None = None, gzip_expected: bool = False
) -> ZeekRead:
    """`numeric`: field -> Zeek type of fields the caller will type (TSV fast path hint)."""
    return _merged(iter_zeek(stored, numeric, gzip_expected, piece_bytes=None))


def iter_zeek(
    stored: bytes | BinaryIO,
    numeric: Mapping[str, str] | None = None,
    gzip_expected: bool = False,
    piece_bytes: int | None = None,
) -> Iterator[ZeekRead]:
    """The file's ZeekReads, one per piece of about `piece_bytes` inflated bytes of whole
    lines (None: one piece, the whole file); `stored`: its bytes, or a binary file open on
    them, read a chunk at a time (the caller closes it)."""
    stream = InflateStream(stored, gzip_expected, plain_block=piece_bytes)
    del stored
    return read_pieces(stream, numeric, piece_bytes)


def read_pieces(
    stream: InflateStream, numeric: Mapping[str, str] | None, piece_bytes: int | None
) -> Iterator[ZeekRead]:
    """ZeekReads of the stream's inflated bytes, a piece of whole lines at a time; once its
    blocks are spent, the stream says whether it broke off."""
    header = Header()
    is_json: bool | None = None
    line = 1  # line number of the piece's first line
    held = b""  # leading lines that do not yet tell TSV from JSON (`#` lines only)
    for body, tail in _line_pieces(stream, piece_bytes):
        body = held + body if held else body
        # one-byte search first: memchr is ~40x faster than a two-byte search on a big piece
        if body.find(b"\r") >= 0 and b"\r\n" in body:
            body = body.replace(b"\r\n", b"\n")
        lines = body.count(b"\n")
        error = stream.error if tail is not None else None
        tail_problem = None
        tail_line = 0
        if tail is not None and (tail or error):
            tail_line = line + lines
        if error is not None:
            tail_problem = problems(
                stream.reason,
                [tail_line if tail else None],
                [text_of(tail)],  # type: ignore[arg-type]
                f"{error}; {max(tail_line - 1, 0)} complete lines before it were read",
            )
        elif tail:
            body = body + tail + b"\n"  # judged below: a record if it parses, else truncated
        if is_json is None:
            is_json = _is_json(body)
            if is_json is None and tail is None:
                held = body
                continue
            is_json = bool(is_json)
        held = b""
        if is_json:
            out = read_json(body, first_line=line)
        else:
            out, header = read_tsv_piece(body, numeric, header, line)
        if tail and error is None:
            out.problems = _truncated(out.problems, tail_line)
        if tail_problem is not None:
            out.problems = pl.concat([out.problems, tail_problem])
        line += lines
        del body
        yield out


def _line_pieces(
    blocks: Iterable[bytes], piece_bytes: int | None
) -> Iterator[tuple[bytes, bytes | None]]:
    """(whole lines, None) pieces of at least `piece_bytes` (None: all in one), then last
    (the rest's whole lines, the bytes after the last line end)."""
    pending: list[bytes] = []
    size = 0
    for block in blocks:
        pending.append(block)
        size += len(block)
        if piece_bytes is None or size < piece_bytes:
            continue
        data = b"".join(pending) if len(pending) > 1 else pending[0]
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # one line longer than a piece: keep gathering
            pending = [data]
            continue
        yield data[:cut] if cut < len(data) else data, None
        rest = data[cut:]
        pending, size = ([rest] if rest else []), len(rest)
        del data
    data = b"".join(pending) if len(pending) != 1 else pending[0]
    cut = data.rfind(b"\n") + 1
    yield (data[:cut] if cut < len(data) else data), data[cut:]


def _merged(reads: Iterable[ZeekRead]) -> ZeekRead:
    out = ZeekRead()
    found = [out.problems]
    for read in reads:
        out.segments.extend(read.segments)
        found.append(read.problems)
        out.path = out.path or read.path
        out.comments = read.comments or out.comments
    out.problems = pl.concat(found) if len(found) > 1 else out.problems
    return out


def _truncated(found: pl.DataFrame, tail_line: int) -> pl.DataFrame:
    """The unterminated last line, if it did not parse, is a cut-off line, not bad data."""
    cut = (pl.col("line_number") == tail_line) & (pl.col("reason") == "parse_error")
    return found.with_columns(
        pl.when(cut).then(pl.lit("truncated_line")).otherwise("reason").alias("reason"),
        pl.when(cut)
        .then(pl.lit("last line has no line end and does not parse (file cut off mid-line)"))
        .otherwise("detail")
        .alias("detail"),
    )


def _is_json(data: bytes) -> bool | None:
    """JSON when the first line that is not a `#` comment starts with `{`; None when every
    line is one."""
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        line = data[pos:end].lstrip()
        if line and not line.startswith(b"#"):
            return line.startswith(b"{")
        pos = end + 1
    return None
