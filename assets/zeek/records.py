"""What the Zeek readers return: data segments (one column per field) and problem lines."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

LINE = "__line"  # 1-based line number in the decompressed file
RAW = "__raw"  # the line text, kept only where it cannot be rebuilt from the fields (JSON)
SOURCE = "__source"  # index of the segment a row came from, when segments are converted together

PROBLEM_SCHEMA: dict[str, pl.DataType] = {
    "reason": pl.String(),
    "detail": pl.String(),
    "line_number": pl.Int64(),
    "raw": pl.String(),
}


@dataclass
class Segment:
    """Data lines that share one header (TSV) or one file (JSON), all with the right shape.

    `frame` holds LINE and one column per Zeek field: TSV values verbatim (String, still
    escaped, unset/empty markers as written); JSON values as String or List(String), absent
    keys as null (and RAW, the line). `unset`, `empty`, `set_separator` are None for JSON.
    """

    frame: pl.DataFrame
    types: dict[str, str]
    separator: str | None = "\t"
    set_separator: str | None = ","
    unset: str | None = "-"
    empty: str | None = "(empty)"
    escaped: bool = False  # some value holds a `\xNN` escape (TSV only)
    text: bytes | None = None  # the bytes the lines came from (TSV), to quote raw lines
    first_line: int = 1  # line number of the first line of `text`

    @property
    def fields(self) -> list[str]:
        return [c for c in self.frame.columns if c not in (LINE, RAW, SOURCE)]

    def raw_text(self, rows: pl.DataFrame) -> pl.Series:
        """The original line text of `rows` (a subset of `frame`)."""
        if RAW in rows.columns:
            return rows[RAW]
        if self.text is not None:
            lines = self.text.split(b"\n")
            raws = [
                lines[n - self.first_line].decode("utf-8", errors="backslashreplace").rstrip("\r")
                for n in rows[LINE]
            ]
            return pl.Series("raw", raws, dtype=pl.String)
        return rows.select(
            pl.concat_str(self.fields, separator=self.separator or "\t", ignore_nulls=True)
        ).to_series()


@dataclass
class ZeekRead:
    """One file's content: well-formed data segments, plus lines that are not records."""

    segments: list[Segment] = field(default_factory=list)
    problems: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PROBLEM_SCHEMA))
    path: str | None = None  # the `#path` header, when there is one
    comments: list[str] = field(default_factory=list)

    @property
    def records(self) -> int:
        """Records in the file: data lines, plus one per problem entry."""
        return sum(s.frame.height for s in self.segments) + self.problems.height


def problems(
    reason: str, lines: list[int | None], raws: list[str], details: list[str] | str
) -> pl.DataFrame:
    n = len(raws)
    detail = [details] * n if isinstance(details, str) else details
    return pl.DataFrame(
        {"reason": [reason] * n, "detail": detail, "line_number": lines, "raw": raws},
        schema=PROBLEM_SCHEMA,
    )
