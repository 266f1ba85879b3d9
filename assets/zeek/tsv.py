"""Zeek ASCII (TSV) logs: header driven, several header blocks per file allowed.

Data lines between header blocks are parsed by one native `pl.read_csv` call per block
(all columns String, no quoting); only a block that does not parse cleanly (a line with too
many fields, bytes that are not UTF-8, a multi-byte separator) falls back to a slower
line-split path. Lines that do not split into the header's fields become `parse_error`
problems; every other line is kept verbatim for typed conversion later.
"""

from __future__ import annotations

import polars as pl

from assets.zeek.header import Header, apply_directive, header_lines
from assets.zeek.records import LINE, Segment, ZeekRead, problems


def read_tsv(data: bytes) -> ZeekRead:
    """Read Zeek TSV bytes that end with a newline (or are empty)."""
    out = ZeekRead()
    parts: list[pl.DataFrame] = []
    spans = header_lines(data)
    if not _read_single_block(data, spans, out, parts):
        header = Header()
        pos = 0
        line_no = 1  # line number of the byte at `pos`
        for start, end in spans:
            if start > pos:
                line_no = _read_span(data[pos:start], line_no, header, out, parts)
            header = _apply(header, data[start:end], out)
            pos = end + 1
            line_no += 1
        if pos < len(data):
            _read_span(data[pos:], line_no, header, out, parts)
    if parts:
        out.problems = pl.concat([out.problems, *parts])
    return out


def _apply(header: Header, line: bytes, out: ZeekRead) -> Header:
    header = apply_directive(header, line.decode("utf-8", errors="replace"))
    out.path = out.path or header.path
    out.comments = list(header.comments)
    return header


def _read_single_block(
    data: bytes, spans: list[tuple[int, int]], out: ZeekRead, parts: list[pl.DataFrame]
) -> bool:
    """The common layout (one header block on top, maybe `#close` at the end): parse the whole
    buffer in one native call, skipping `#` lines, without slicing or counting in Python."""
    top = 0
    while top < len(spans) and spans[top][0] == (spans[top - 1][1] + 1 if top else 0):
        top += 1
    if top == 0 or top == len(spans):
        return False
    bottom = spans[top:]
    if any(start != prev_end + 1 for (_, prev_end), (start, _) in zip(bottom, bottom[1:])):
        return False
    if bottom[-1][1] + 1 < len(data):
        return False
    header = Header()
    for start, end in spans:
        header = _apply(header, data[start:end], out)
    if not header.fields:
        return False
    frame = _fast_frame(data, header, top + 1, comment_prefix="#")
    if frame is None:
        return False
    frame, bad = _split_short_rows(frame, header, data, 1)
    if bad.height:
        parts.append(bad)
    _add_segment(out, frame, header, escaped=data.find(b"\\", spans[top - 1][1]) >= 0)
    return True


def _add_segment(out: ZeekRead, frame: pl.DataFrame, header: Header, escaped: bool) -> None:
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
            )
        )


def _read_span(
    span: bytes, line_no: int, header: Header, out: ZeekRead, parts: list[pl.DataFrame]
) -> int:
    """Parse the data lines of one span into a Segment (and problems); return next line no."""
    n_lines = span.count(b"\n")
    if not header.fields:
        lines = _split_lines(span)
        nums = list(range(line_no, line_no + len(lines)))
        parts.append(problems("parse_error", nums, lines, "data line before any #fields header"))
        return line_no + n_lines
    frame = _fast_frame(span, header, line_no)
    if frame is not None and frame.height != n_lines:
        frame = None
    if frame is None:
        frame, bad = _slow_frame(span, header, line_no)
    else:
        frame, bad = _split_short_rows(frame, header, span, line_no)
    if bad.height:
        parts.append(bad)
    _add_segment(out, frame, header, escaped=span.find(b"\\") >= 0)
    return line_no + n_lines


def _fast_frame(
    span: bytes, header: Header, line_no: int, comment_prefix: str | None = None
) -> pl.DataFrame | None:
    sep = header.separator
    if len(sep.encode()) != 1:
        return None
    try:
        frame = pl.read_csv(
            span,
            separator=sep,
            quote_char=None,
            has_header=False,
            schema=dict.fromkeys(header.fields, pl.String),
            empty_string_is_null=False,
            row_index_name=LINE,
            row_index_offset=line_no,
            raise_if_empty=False,
            comment_prefix=comment_prefix,
        )
    except pl.exceptions.PolarsError:
        return None  # a line with too many fields, or bytes that are not UTF-8
    return frame.with_columns(pl.col(LINE).cast(pl.Int64))


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
    raws = [lines[n - first_line].decode("utf-8", errors="replace").rstrip("\r") for n in numbers]
    n = len(header.fields)
    details = [
        "blank line" if not r else f"{len(r.split(header.separator))} fields, header declares {n}"
        for r in raws
    ]
    return frame.filter(~short), problems("parse_error", numbers, raws, details)


def _split_lines(span: bytes) -> list[str]:
    text = span.decode("utf-8", errors="replace")
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _slow_frame(span: bytes, header: Header, line_no: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Line-split path for a span the native reader refused; still vectorised per column."""
    lines = pl.Series("line", _split_lines(span), dtype=pl.String)
    n = len(header.fields)
    df = pl.DataFrame({LINE: pl.int_range(line_no, line_no + len(lines), eager=True), "line": lines})
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
    return good, problems("parse_error", bad[LINE].cast(pl.Int64).to_list(), bad["line"].to_list(), details)
