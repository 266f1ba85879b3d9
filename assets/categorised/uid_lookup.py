"""Per-connection lookups (TLS SNI, HTTP Host by sensor and uid) keyed by two 64-bit hashes of
the key instead of its text.

A day's table holds one row per connection that had a name: millions of rows whose keys
would otherwise be kept, and re-hashed for every conn chunk, as text. Two independently
seeded hashes of (sensor, uid) stand for the key: the first finds the candidates with a
plain integer probe, the second confirms them, so a wrong match needs both 64-bit hashes of
two different keys to collide (about 1e-25 for a 10M-connection day).
"""

from __future__ import annotations

import polars as pl

KEY = ["sensor", "uid"]
_SEEDS = (0x6865726D, 0x69742D6B)  # fixed: the same key hashes alike in every frame


def key_hashes(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with _k1, _k2: the two hashes of its (sensor, uid)."""
    key = pl.struct(pl.col("sensor").cast(pl.String), pl.col("uid").cast(pl.String))
    return frame.with_columns(_k1=key.hash(_SEEDS[0]), _k2=key.hash(_SEEDS[1]))


def first_per_key(rows: pl.DataFrame, *values: str) -> pl.DataFrame:
    """_k1, _k2, values of the earliest row (by ts, then row order) of each key."""
    if not rows.get_column("ts").is_sorted():
        rows = rows.sort("ts", maintain_order=True)
    return rows.unique(subset=["_k1", "_k2"], keep="first", maintain_order=True).select(
        "_k1", "_k2", *values
    )


class UidLookup:
    """(sensor, uid) -> value columns, one row per key (`first_per_key`'s frame)."""

    def __init__(self, frame: pl.DataFrame):
        self.frame = frame
        self.values = [c for c in frame.columns if c not in ("_k1", "_k2")]
        # the one-hash probe needs the first hash alone to be unique in the table
        self._k1_unique = frame.get_column("_k1").n_unique() == frame.height

    @classmethod
    def from_rows(cls, rows: pl.DataFrame, *values: str) -> UidLookup:
        """From rows with ts, sensor, uid and the values (the first of each key wins)."""
        return cls(first_per_key(key_hashes(rows), *values))

    @property
    def height(self) -> int:
        return self.frame.height

    def estimated_size(self) -> int:
        return self.frame.estimated_size()

    def join(self, conn: pl.DataFrame) -> pl.DataFrame:
        """`conn` (with _k1, _k2) plus the value columns, null where the key has none; rows
        and order of `conn` kept."""
        found = self.frame.filter(pl.col("_k1").is_in(conn.get_column("_k1").implode()))
        if not self._k1_unique:
            return conn.join(found, on=["_k1", "_k2"], how="left", maintain_order="left")
        out = conn.join(
            found.rename({"_k2": "_k2_found"}), on="_k1", how="left", maintain_order="left"
        )
        same = pl.col("_k2_found") == pl.col("_k2")
        return out.with_columns(pl.when(same).then(pl.col(c)).alias(c) for c in self.values).drop(
            "_k2_found"
        )
