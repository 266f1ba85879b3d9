"""Zeek ASCII (TSV) logs: header driven, several header blocks per file allowed.

Data lines between header blocks are parsed by one native `pl.read_csv` call per block (no
quoting). The caller may name numeric fields (`numeric`: field -> Zeek type); those are
parsed as numbers by the CSV reader itself (unset -> null), which is the fast path for sound
data. A block where that fails (a value that is not a number) is re-read with every column
as text, for vectorised casts that pinpoint the bad records; a block that does not parse at
all (a line with too many fields, bytes that are not UTF-8, a multi-byte separator) falls
back to a line-split path. Lines that do not split into the header's fields become
`parse_error` problems.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from assets.zeek.header import Header, apply_directive, header_lines
from assets.zeek.records import LINE, Segment, ZeekRead, problems

_NUMERIC: dict[str, pl.DataType] = {
    "time": pl.Float64(),
    "interval": pl.Float64(),
    "double": pl.Float64(),
    "count": pl.Int64(),
    "int": pl.Int64(),
    "port": pl.Int32(),
}


def read_tsv(data: bytes, numeric: Mapping[str, str] | None = None) -> ZeekRead:
    """Read Zeek TSV bytes that end with a newline (or are empty)."""
    return read_tsv_piece(data, numeric)[0]


def read_tsv_piece(
    data: bytes,
    numeric: Mapping[str, str] | None = None,
    header: Header | None = None,
    first_line: int = 1,
) -> tuple[ZeekRead, Header]:
    """`read_tsv` on a piece of a file: whole lines starting at line `first_line`, read under
    the `header` in force where the piece starts; also the header in force where it ends."""
    out = ZeekRead()
    parts: list[pl.DataFrame] = []
    spans = header_lines(data)
    hint = {f: _NUMERIC[t] for f, t in (numeric or {}).items() if t in _NUMERIC}
    header = header or Header()
    ended = _read_single_block(data, spans, out, parts, hint, header, first_line)
    if ended is not None:
        header = ended
    else:
        pos = 0
        line_no = first_line  # line number of the byte at `pos`
        for start, end in spans:
            if start > pos:
                line_no = _read_span(data[pos:start], line_no, header, out, parts, hint)
            header = _apply(header, data[start:end], out)
            pos = end + 1
            line_no += 1
        if pos < len(data):
            _read_span(data[pos:], line_no, header, out, parts, hint)
    if parts:
        out.problems = pl.concat([out.problems, *parts])
    return out, header


def _apply(header: Header, line: bytes, out: ZeekRead) -> Header:
    header = apply_directive(header, line.decode("utf-8", errors="backslashreplace"))
    out.path = out.path or header.path
    out.comments = list(header.comments)
    return header


def _read_single_block(
    data: bytes,
    spans: list[tuple[int, int]],
    out: ZeekRead,
    parts: list[pl.DataFrame],
    hint: dict[str, pl.DataType],
    header: Header,
    first_line: int,
) -> Header | None:
    """The common layout (one header block on top, maybe `#close` at the end): parse the whole
    buffer in one native call, skipping `#` lines, without slicing or counting in Python.
    The header in force at the end, or None when the layout is another (nothing read)."""
    top = 0
    while top < len(spans) and spans[top][0] == (spans[top - 1][1] + 1 if top else 0):
        top += 1
    if top == 0 or top == len(spans):
        return None
    bottom = spans[top:]
    pairs = zip(bottom, bottom[1:], strict=False)
    if any(start != prev_end + 1 for (_, prev_end), (start, _) in pairs):
        return None
    if bottom[-1][1] + 1 < len(data):
        return None
    probe = ZeekRead()
    for start, end in spans[:top]:
        header = _apply(header, data[start:end], probe)
    data_header = header
    for start, end in bottom:
        header = _apply(header, data[start:end], probe)
    # a directive below the data that changes how it reads (not `#close`) needs the slow path
    if not data_header.fields or _clash(data_header) or header != data_header:
        return None
    frame = _fast_frame(data, header, first_line + top, hint, comment_prefix="#")
    if frame is None:
        return None
    frame, bad = _split_short_rows(frame, header, data, first_line)
    if bad.height:
        parts.append(bad)
    escaped = data.find(b"\\", spans[top - 1][1]) >= 0
    out.path, out.comments = probe.path, probe.comments
    _add_segment(out, frame, header, escaped, data, first_line)
    return header


def _add_segment(
    out: ZeekRead, frame: pl.DataFrame, header: Header, escaped: bool, text: bytes, first: int
) -> None:
    if frame.height:
        out.segments.append(
            Segment(
                frame=frame,
                types=header.field_types(),
                separator=header.separator,
                set_separator=header.set_separator,
                unset=header.unset_field,
                empty=header.empty_field,
                escaped=escaped,
                text=text,
                first_line=first,
            )
        )


def _read_span(
    span: bytes,
    line_no: int,
    header: Header,
    out: ZeekRead,
    parts: list[pl.DataFrame],
    hint: dict[str, pl.DataType],
) -> int:
    """Parse the data lines of one span into a Segment (and problems); return next line no."""
    n_lines = span.count(b"\n")
    clash = _clash(header)
    if not header.fields or clash:
        lines = _split_lines(span)
        nums = list(range(line_no, line_no + len(lines)))
        why = clash or "data line before any #fields header"
        parts.append(problems("parse_error", nums, lines, why))
        return line_no + n_lines
    frame = _fast_frame(span, header, line_no, hint)
    if frame is not None and frame.height != n_lines:
        frame = None
    if frame is None:
        frame, bad = _slow_frame(span, header, line_no)
    else:
        frame, bad = _split_short_rows(frame, header, span, line_no)
    if bad.height:
        parts.append(bad)
    _add_segment(out, frame, header, span.find(b"\\") >= 0, span, line_no)
    return line_no + n_lines


def _fast_frame(
    span: bytes,
    header: Header,
    line_no: int,
    hint: dict[str, pl.DataType],
    comment_prefix: str | None = None,
) -> pl.DataFrame | None:
    """Native parse: numeric hinted fields typed, the rest text; None when it fails."""
    sep = header.separator
    if len(sep.encode()) != 1:
        return None
    fields = header.fields
    # the first and last field stay verbatim text: an empty one marks a blank or short line
    middle = set(fields[1:-1])
    typed = {f: hint[f] for f in fields if f in middle and f in hint}
    attempts = [typed, {}] if typed else [{}]
    for numeric in attempts:
        try:
            frame = pl.read_csv(
                span,
                separator=sep,
                quote_char=None,
                has_header=False,
                schema={f: numeric.get(f, pl.String()) for f in fields},
                null_values={f: header.unset_field for f in numeric} or None,
                empty_string_is_null=False,
                row_index_name=LINE,
                row_index_offset=line_no,
                raise_if_empty=False,
                comment_prefix=comment_prefix,
            )
        except pl.exceptions.PolarsError:
            continue  # a value that is not a number; a line with too many fields; not UTF-8
        return frame.with_columns(pl.col(LINE).cast(pl.Int64))
    return None


def _split_short_rows(
    frame: pl.DataFrame, header: Header, text: bytes, first_line: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Move lines with fewer fields than the header (and blank lines) to parse_error.

    Zeek never writes an empty field (it writes the empty marker), and the CSV reader fills
    the fields a short line lacks with empty strings, so an empty last field marks a short
    line and an empty first field a blank one. `text` holds the lines from `first_line` on.
    """
    first, last = header.fields[0], header.fields[-1]
    short = (pl.col(last) == "") | pl.col(last).is_null() | (pl.col(first) == "")
    if not frame.select(short.any()).item():
        return frame, problems("parse_error", [], [], [])
    numbers = frame.filter(short)[LINE].to_list()
    lines = text.split(b"\n")  # only when a file holds bad lines
    raws = [
        lines[n - first_line].decode("utf-8", errors="backslashreplace").rstrip("\r")
        for n in numbers
    ]
    n = len(header.fields)
    details = [
        "blank line" if not r else f"{len(r.split(header.separator))} fields, header declares {n}"
        for r in raws
    ]
    return frame.filter(~short), problems("parse_error", numbers, raws, details)


def _clash(header: Header) -> str | None:
    """Why the #fields header cannot name the columns (a field named twice), if so."""
    fields = header.fields
    if len(set(fields)) == len(fields):
        return None
    twice = sorted({f for f in fields if fields.count(f) > 1})
    return f"#fields header names a field twice ({', '.join(twice)})"


def _split_lines(span: bytes) -> list[str]:
    text = span.decode("utf-8", errors="backslashreplace")
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _slow_frame(span: bytes, header: Header, line_no: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Line-split path for a span the native reader refused; still vectorised per column."""
    lines = pl.Series("line", _split_lines(span), dtype=pl.String)
    n = len(header.fields)
    df = pl.DataFrame(
        {LINE: pl.int_range(line_no, line_no + len(lines), eager=True), "line": lines}
    )
    df = df.with_columns(
        pl.col("line").str.strip_suffix("\r").str.split(header.separator).alias("parts")
    ).with_columns(pl.col("parts").list.len().alias("n"))
    ok = (pl.col("n") == n) & (pl.col("line") != "")
    bad = df.filter(~ok)
    details = [
        "blank line" if line == "" else f"{k} fields, header declares {n}"
        for line, k in zip(bad["line"], bad["n"], strict=True)
    ]
    good = df.filter(ok).select(
        pl.col(LINE).cast(pl.Int64),
        *[pl.col("parts").list.get(i).alias(f) for i, f in enumerate(header.fields)],
    )
    return good, problems(
        "parse_error", bad[LINE].cast(pl.Int64).to_list(), bad["line"].to_list(), details
    )
