"""Zeek JSON logs: one object per line, flat keys (`id.orig_h`), absent key = unset.

All lines are decoded by one native `str.json_decode` call; only when that refuses the file
(a damaged line) are lines checked one by one to find which are not JSON objects. Scalar
values become String (the typed conversion casts them like TSV text), arrays List(String).
"""

from __future__ import annotations

import json

import polars as pl

from assets.zeek.escapes import json_text_of
from assets.zeek.records import LINE, RAW, Segment, ZeekRead, problems


def read_json(data: bytes, first_line: int = 1) -> ZeekRead:
    """Read Zeek JSON-lines bytes that end with a newline (or are empty), the first of them
    line `first_line` of its file."""
    out = ZeekRead()
    text = json_text_of(data)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    frame = pl.DataFrame(
        {
            LINE: pl.int_range(first_line, first_line + len(lines), dtype=pl.Int64, eager=True),
            RAW: pl.Series(lines, dtype=pl.String),
        }
    )
    # `#` lines are comments (Zeek writes none in JSON, but a header may be prepended)
    frame = frame.filter(~pl.col(RAW).str.starts_with("#"))
    stripped = pl.col(RAW).str.strip_chars()
    is_object = stripped.str.starts_with("{") & stripped.str.ends_with("}")
    shaped = frame.filter(is_object)
    decoded = _decode_all(shaped[RAW])
    if decoded is None:
        ok = [_is_json_object(line) for line in shaped[RAW]]
        shaped = shaped.filter(pl.Series(ok, dtype=pl.Boolean))
        decoded = _decode_all(shaped[RAW])
    if decoded is None:  # lines Python's json reads but polars refuses: find them one by one
        ok = [_decode_all(pl.Series([line])) is not None for line in shaped[RAW]]
        shaped = shaped.filter(pl.Series(ok, dtype=pl.Boolean))
        decoded = _decode_all(shaped[RAW])
    if decoded is None:  # never drop a line silently: what does not decode is a parse error
        shaped = shaped.clear()
    bad = frame.join(shaped.select(LINE), on=LINE, how="anti")
    if bad.height:
        out.problems = problems(
            "parse_error",
            bad[LINE].to_list(),
            bad[RAW].to_list(),
            ["blank line" if not r.strip() else "not a JSON object" for r in bad[RAW]],
        )
    if decoded is not None and shaped.height:
        values = decoded.struct.unnest() if decoded.dtype.fields else pl.DataFrame()  # type: ignore[union-attr]
        values = values.select([_as_text(c, values[c].dtype) for c in values.columns])
        seg = pl.concat([shaped, values], how="horizontal")
        out.segments.append(
            Segment(
                frame=seg,
                types={},
                separator=None,
                set_separator=None,
                unset=None,
                empty=None,
            )
        )
    return out


def _decode_all(lines: pl.Series) -> pl.Series | None:
    if lines.len() == 0:
        return pl.Series(dtype=pl.Struct({}))
    try:
        return lines.str.json_decode(infer_schema_length=None)
    except pl.exceptions.PolarsError:
        return None


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line, parse_constant=_not_json), dict)
    except ValueError:
        return False


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")  # NaN, Infinity: Python's extension only


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """Nested values -> JSON text (Zeek logs are flat; this keeps odd input harmless)."""
    col = pl.col(name)
    if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct | pl.List):
        return col.list.eval(pl.element().cast(pl.String, strict=False)).alias(name)
    if isinstance(dtype, pl.Struct):
        return col.struct.json_encode().alias(name)
    if dtype == pl.Null:
        return col.cast(pl.String).alias(name)
    return col
