"""Zeek's `\\xNN` escapes (the ASCII writer escapes separators, backslashes, non-printables)."""

from __future__ import annotations

import re

import polars as pl

_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")


def decode_text(text: str) -> str:
    r"""Decode `\xNN` escapes; bytes that do not form UTF-8 stay as their `\xNN` text."""
    if "\\x" not in text:
        return text
    raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8"))
    return raw.decode("utf-8", errors="backslashreplace")


def decode_series(values: pl.Series) -> pl.Series:
    """Decode escapes in a String series, touching only the (rare) values that contain one."""
    escaped = values.filter(values.str.contains("\\x", literal=True)).unique()
    if escaped.len() == 0:
        return values
    mapping = {v: decode_text(v) for v in escaped.to_list()}
    return values.replace(mapping)


def has_escape(expr: pl.Expr) -> pl.Expr:
    return expr.str.contains("\\x", literal=True)
