"""The frame as GE's pandas engine sees it: converted a group of columns at a time, with the
dtypes GE checks fastest and text keys as 64-bit hashes where that is exact."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from assets.quality.batching import DAY_KEY

if TYPE_CHECKING:
    import pandas as pd


class _PandasSource:
    """The frame as GE sees it (pandas), converted a group of columns at a time: GE runs the
    expectations group by group (`_validate`), so only one group's pandas copy is alive at
    once instead of the whole table's (~1 GB for a 10M-row conn day).

    columns: every column name of the table (default df's), when df holds only some.
    hashed: text columns given to GE as 64-bit hashes (see `_hashable_keys`).
    derived: batch keys computed on the pandas columns (see batch_plan).
    """

    def __init__(self, df: pl.DataFrame, columns, hashed: set[str], derived: dict):
        self.df, self.columns, self.hashed, self.derived = df, list(columns), hashed, derived

    def frame(self, names) -> pd.DataFrame:
        """The named columns (those the frame has), derived keys included."""
        derived = [n for n in names if n in self.derived]
        needed = {n for n in names if n in self.df.columns}
        for name in derived:
            needed |= {DAY_KEY, *(c for c in self.derived[name] if c in self.df.columns)}
        pdf = _to_pandas(self.df.select([c for c in self.df.columns if c in needed]), self.hashed)
        for name in derived:
            # pandas' own notion of missing (null, NaN, NaT), the one GE's ignore_row_if uses.
            # (a key column the table lacks fails its expectation; the day key is then all null)
            keys = [c for c in self.derived[name] if c in pdf.columns]
            pdf[name] = pdf[DAY_KEY].where(pdf[keys].notna().any(axis=1))
        return pdf[[n for n in names if n in pdf.columns]]

    def table(self) -> pd.DataFrame:
        """Every column name over the table's rows, for table-level expectations (column set,
        row count), which read no values: 1-byte placeholders."""
        import numpy as np
        import pandas as pd

        names = [*self.columns, *(d for d in self.derived if d not in self.columns)]
        zeros = np.zeros(self.df.height, dtype=np.int8)
        index = pd.RangeIndex(self.df.height)
        return pd.DataFrame({c: zeros for c in names}, index=index, copy=False)

    def whole(self, referenced: set[str]) -> pd.DataFrame:
        """Every column: the `referenced` ones converted, the rest placeholders (for GE's
        public route, which validates one frame)."""
        import pandas as pd

        table = self.table()
        converted = self.frame([c for c in table.columns if c in referenced])
        rest = table[[c for c in table.columns if c not in converted.columns]]
        return pd.concat([converted, rest], axis=1)[list(table.columns)]


def _to_pandas(df: pl.DataFrame, hashed: set[str] = frozenset()):  # type: ignore[assignment]
    """Every column of `df` as GE's pandas engine checks it fastest; `hashed` columns as the
    64-bit hashes of their values (see `_hashable_keys`)."""
    # GE's pandas range check is vectorised only for int64/float64 columns (per-row Python
    # otherwise, ~1 s per million rows): widen narrower numbers first.
    widen = [
        pl.col(c).cast(pl.Int64 if t.is_integer() else pl.Float64)
        for c, t in df.schema.items()
        if t.is_numeric() and t not in (pl.Int64, pl.Float64)
    ]
    widen += [pl.col(c).hash().reinterpret(signed=True) for c in df.columns if c in hashed]
    # Timestamps as naive UTC nanoseconds: the only datetime dtype GE's range check
    # vectorises, and pandas deprecates GE's pairwise comparison of tz-aware columns.
    widen += [
        pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None).dt.cast_time_unit("ns")
        if t.time_zone  # type: ignore[union-attr]
        else pl.col(c).dt.cast_time_unit("ns")
        for c, t in df.schema.items()
        if isinstance(t, pl.Datetime)
    ]
    # numpy-backed conversion: GE on pyarrow extension arrays measured ~10x slower.
    # One chunk per column: pandas keeps arrow chunking, and chunked strings are slower in GE.
    return df.with_columns(widen).rechunk().to_pandas()
