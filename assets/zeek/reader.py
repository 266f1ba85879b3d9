"""Read one Zeek log file's stored bytes (gzip or plain; TSV or JSON) into a ZeekRead.

Never raises on bad content: a damaged gzip stream keeps every complete line before the
damage and adds one `corrupt_stream` problem (raw = the partial line cut by the damage, if
any), so a corrupt stream counts as one record. A last line without a line end is a record
when it parses completely, else a `truncated_line` problem. CRLF line ends (Zeek logs moved
through Windows tools) read as LF: Zeek escapes a CR inside a value, so a CR before LF is
always part of the line end.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from assets.zeek.escapes import text_of
from assets.zeek.inflate import Inflated, inflate
from assets.zeek.jsonlog import read_json
from assets.zeek.records import ZeekRead, problems
from assets.zeek.tsv import read_tsv


def read_zeek(
    stored: bytes, numeric: Mapping[str, str] | None = None, gzip_expected: bool = False
) -> ZeekRead:
    """`numeric`: field -> Zeek type of fields the caller will type (TSV fast path hint)."""
    return read_inflated(inflate(stored, gzip_expected), numeric)


def read_inflated(inflated: Inflated, numeric: Mapping[str, str] | None = None) -> ZeekRead:
    """`read_zeek` on bytes already through `inflate` (e.g. inflated ahead in a thread)."""
    data = inflated.data
    # one-byte search first: memchr is ~40x faster than a two-byte search on a big file
    if data.find(b"\r") >= 0 and b"\r\n" in data:
        data = data.replace(b"\r\n", b"\n")
    cut = data.rfind(b"\n") + 1
    tail = data[cut:]
    tail_line = data.count(b"\n") + 1 if (tail or inflated.error) else 0
    tail_problem = None
    if inflated.error is not None:
        read_lines = max(tail_line - 1, 0)
        tail_problem = problems(
            inflated.reason,
            [tail_line if tail else None],
            [text_of(tail)],
            f"{inflated.error}; {read_lines} complete lines before it were read",
        )
        data = data[:cut]
    elif tail:
        data = data + b"\n"  # judged below: a record if it parses, else truncated
    out = read_json(data) if _is_json(data) else read_tsv(data, numeric)
    if tail and inflated.error is None:
        out.problems = _truncated(out.problems, tail_line)
    if tail_problem is not None:
        out.problems = pl.concat([out.problems, tail_problem])
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


def _is_json(data: bytes) -> bool:
    """JSON when the first line that is not a `#` comment starts with `{`."""
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        line = data[pos:end].lstrip()
        if line and not line.startswith(b"#"):
            return line.startswith(b"{")
        pos = end + 1
    return False
