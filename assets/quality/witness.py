"""Witness rows: a few rows of a chunk on which a set of row-local expectations passes exactly
when it passes on the whole chunk, so GE can judge a day's chunks in one small run.

Each expectation here reads one column and judges each value on its own, so only the set of
values of that column matters, not which row holds it: a column's witnesses are a present
value, its minimum and maximum (a range check passes on every value exactly when it passes on
those two), every distinct value (for set checks), one value of each length (for length
checks), a null and a NaN where the chunk has one (GE's pandas engine counts NaN as missing).
Columns are padded to one height by repeating a witness, which changes no verdict. Anything
else (multi-column, regex, a `row_condition`) has no witness here: `witness_columns` refuses
such a suite.
"""

from __future__ import annotations

import polars as pl

from assets.quality import suites

_TABLE_LEVEL = frozenset(
    {"expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list"}
)
_PRESENCE = frozenset({"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"})
_RANGE = "expect_column_values_to_be_between"
_SETS = frozenset({"expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"})
_LENGTHS = frozenset(
    {"expect_column_value_lengths_to_equal", "expect_column_value_lengths_to_be_between"}
)
# Distinct values a set-checked column may have in a chunk before its witnesses stop being
# few (the chunk is then judged by GE on its rows, as without witnesses).
MAX_DISTINCT = 4_096


class NoWitness(ValueError):
    """A chunk whose values cannot be summarised by witnesses for these expectations."""


def witness_columns(spec: dict) -> dict[str, str] | None:
    """Column -> what its witnesses must show ("presence", "range" or "set"), or None when
    some expectation of `spec` cannot be judged on witnesses."""
    need: dict[str, str] = {}
    # each one's witnesses cover those before it (range and length never meet: a range check
    # needs numbers or times, a length check text)
    rank = {"presence": 0, "range": 1, "length": 1, "set": 2}
    for exp in spec.get("expectations", []):
        kind, kwargs = exp["type"], exp.get("kwargs") or {}
        if kwargs.get("row_condition") or kwargs.get("mostly") is not None:
            return None
        if kind in _TABLE_LEVEL:
            continue
        cols = suites.columns_read(kwargs)
        if len(cols) != 1:
            return None
        (col,) = cols
        if kind in _PRESENCE:
            kind_need = "presence"
        elif kind == _RANGE:
            if kwargs.get("parse_strings_as_datetimes"):
                return None
            kind_need = "range"
        elif kind in _SETS:
            kind_need = "set"
        elif kind in _LENGTHS:
            kind_need = "length"
        else:
            return None
        if {kind_need, need.get(col)} == {"range", "length"}:
            return None
        need[col] = max(kind_need, need.get(col, kind_need), key=rank.__getitem__)
    return need


def witnesses(df: pl.DataFrame, need: dict[str, str]) -> pl.DataFrame:
    """The witness rows of `df` (its columns that `need` names, in `df`'s dtypes); raises
    NoWitness where a column's witnesses would not be exact (a range over text or nested
    values, too many distinct values)."""
    columns: dict[str, pl.Series] = {}
    for col, what in need.items():
        if col not in df.columns:
            continue  # GE fails the expectation on any frame without the column
        columns[col] = _column_witnesses(df.get_column(col), what)
    height = max((s.len() for s in columns.values()), default=0)
    # rebuilt from their values: a slice or a gather of the chunk's column would keep the
    # whole chunk's buffers alive as long as the day's witnesses are (measured: +1.5 GiB
    # at 10M conn records)
    return pl.DataFrame(
        [pl.Series(s.name, _pad(s, height).to_list(), dtype=s.dtype) for s in columns.values()]
    )


def _column_witnesses(s: pl.Series, what: str) -> pl.Series:
    dtype = s.dtype
    present = s.drop_nulls()
    has_nan = False
    if dtype.is_float():
        nan = present.is_nan()
        has_nan = bool(nan.any())
        present = present.filter(~nan)
    if what == "set":
        if dtype.is_nested():
            raise NoWitness(f"{s.name}: a set check on nested values")
        picked = present.unique(maintain_order=True)
        if picked.len() > MAX_DISTINCT:
            raise NoWitness(f"{s.name}: more than {MAX_DISTINCT} distinct values")
    elif what == "length":
        if dtype != pl.String:
            raise NoWitness(f"{s.name}: a length check on {dtype}")
        # a length check judges each value by its length alone: one value per length
        picked = present.filter(present.str.len_chars().is_first_distinct())
    elif what == "range" and present.len():
        if not (dtype.is_numeric() or dtype.is_temporal()):
            raise NoWitness(f"{s.name}: a range check on {dtype}")
        picked = present.gather([present.arg_min(), present.arg_max()])
    else:
        picked = present.head(1)
    extra = []
    if s.null_count():
        extra.append(pl.Series(s.name, [None], dtype=dtype))
    if has_nan:
        extra.append(pl.Series(s.name, [float("nan")], dtype=dtype))
    return pl.concat([picked, *extra]) if extra else picked


def _pad(s: pl.Series, height: int) -> pl.Series:
    if s.len() == height:
        return s
    return pl.concat([s, s.gather([0] * (height - s.len()))])
