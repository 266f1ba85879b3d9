"""Zeek's `\\xNN` escapes (the ASCII writer escapes separators, backslashes, non-printables)."""

from __future__ import annotations

import codecs
import re

import polars as pl

_JSON_ERRORS = "hermit-zeek-json-escape"


def _json_escape(err: UnicodeDecodeError) -> tuple[str, int]:
    # `\\xNN` inside a JSON string decodes to the text `\xNN`, as Zeek's JSON writer escapes it
    bad = err.object[err.start : err.end]
    return "".join(f"\\\\x{b:02x}" for b in bad), err.end  # type: ignore[union-attr]


codecs.register_error(_JSON_ERRORS, _json_escape)


def text_of(data: bytes) -> str:
    r"""Log bytes as text: bytes that are not UTF-8 become Zeek's own `\xNN` escape (never a
    silent U+FFFD), so the value is kept faithfully and reads as Zeek would have written it."""
    return data.decode("utf-8", errors="backslashreplace")


def json_text_of(data: bytes) -> str:
    """`text_of` for JSON lines: the escape is written so that JSON decoding yields `\\xNN`."""
    return data.decode("utf-8", errors=_JSON_ERRORS)


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
