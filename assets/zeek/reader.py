"""Read one Zeek log file's stored bytes (gzip or plain; TSV or JSON) into a ZeekRead.

Never raises on bad content: a damaged gzip stream keeps every complete line before the
damage and adds one `corrupt_stream` problem (raw = the partial line cut by the damage, if
any), so a corrupt stream counts as one record; an unterminated last data line of an intact
stream is a `truncated_line` problem.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from assets.zeek.inflate import Inflated, inflate
from assets.zeek.jsonlog import read_json
from assets.zeek.records import ZeekRead, problems
from assets.zeek.tsv import read_tsv


def read_zeek(stored: bytes, numeric: Mapping[str, str] | None = None) -> ZeekRead:
    """`numeric`: field -> Zeek type of fields the caller will type (TSV fast path hint)."""
    return read_inflated(inflate(stored), numeric)


def read_inflated(inflated: Inflated, numeric: Mapping[str, str] | None = None) -> ZeekRead:
    """`read_zeek` on bytes already through `inflate` (e.g. inflated ahead in a thread)."""
    data = inflated.data
    cut = data.rfind(b"\n") + 1
    tail = data[cut:]
    tail_line = data.count(b"\n") + 1 if (tail or inflated.error) else 0
    tail_problem = None
    if inflated.error is not None:
        tail_problem = problems(
            "corrupt_stream",
            [tail_line if tail else None],
            [tail.decode("utf-8", errors="replace")],
            f"{inflated.error}; {tail_line - 1} complete lines before the damage were read",
        )
        data = data[:cut]
    elif tail.startswith(b"#"):
        data = data + b"\n"  # a header line such as #close without its newline
    elif tail:
        tail_problem = problems(
            "truncated_line",
            [tail_line],
            [tail.decode("utf-8", errors="replace")],
            "last line has no line end (file cut off mid-line)",
        )
        data = data[:cut]
    out = read_json(data) if _is_json(data) else read_tsv(data, numeric)
    if tail_problem is not None:
        out.problems = pl.concat([out.problems, tail_problem])
    return out


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
