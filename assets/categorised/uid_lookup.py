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
        self.values = [c for c in frame.columns if c not in ("_k1", "_k2")]
        # the one-hash probe needs the first hash alone to be unique in the table
        self._k1_unique = frame.get_column("_k1").n_unique() == frame.height
        # sorted by the first hash, a chunk finds its rows by binary search (its size times
        # log of the day's) instead of a scan of the whole day's table per chunk
        self.frame = frame.sort("_k1") if self._k1_unique else frame

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
        if not self._k1_unique:
            found = self.frame.filter(pl.col("_k1").is_in(conn.get_column("_k1").implode()))
            return conn.join(found, on=["_k1", "_k2"], how="left", maintain_order="left")
        if self.frame.height == 0:
            return conn.with_columns(
                pl.lit(None, dtype=self.frame.schema[c]).alias(c) for c in self.values
            )
        k1 = self.frame.get_column("_k1")
        at = k1.search_sorted(conn.get_column("_k1"), side="left")
        at = at.clip(upper_bound=self.frame.height - 1)
        rows = self.frame.select(pl.all().gather(at))
        same = (rows.get_column("_k1") == conn.get_column("_k1")) & (
            rows.get_column("_k2") == conn.get_column("_k2")
        )
        return conn.with_columns(
            rows.select(pl.when(same).then(pl.col(c)).alias(c) for c in self.values)
        )


class PairSet:
    """A set of text pairs (which client resolved which name) held as two independently
    seeded 64-bit hashes a pair, sorted: 16 bytes a pair instead of its text, and a chunk's
    rows are looked up by binary search instead of a join against the whole day's set. A
    wrong hit needs both hashes of two pairs to collide (~1e-25 a day)."""

    def __init__(self, hashes: pl.DataFrame):
        self.frame = hashes.select("_p1", "_p2").unique().sort("_p1", "_p2")
        self._p1_unique = self.frame.get_column("_p1").n_unique() == self.frame.height

    @staticmethod
    def hashes(a: pl.Expr, b: pl.Expr) -> list[pl.Expr]:
        pair = pl.struct(a.cast(pl.String), b.cast(pl.String))
        return [pair.hash(_PAIR_SEEDS[0]).alias("_p1"), pair.hash(_PAIR_SEEDS[1]).alias("_p2")]

    @property
    def height(self) -> int:
        return self.frame.height

    def estimated_size(self) -> int:
        return self.frame.estimated_size()

    def contains(self, frame: pl.DataFrame, a: str, b: str) -> pl.Series:
        """Per row of `frame`: is (frame[a], frame[b]) in the set (False where either is
        null, as a join on the text would)."""
        q = frame.select(
            *self.hashes(pl.col(a), pl.col(b)),
            _nn=pl.col(a).is_not_null() & pl.col(b).is_not_null(),
        )
        if self.frame.height == 0:
            return pl.Series("_resolved", [False] * frame.height, dtype=pl.Boolean)
        if self._p1_unique:
            p1 = self.frame.get_column("_p1")
            at = p1.search_sorted(q.get_column("_p1"), side="left").clip(
                upper_bound=self.frame.height - 1
            )
            hit = (p1.gather(at) == q.get_column("_p1")) & (
                self.frame.get_column("_p2").gather(at) == q.get_column("_p2")
            )
        else:
            keys = self.frame.select(pl.struct("_p1", "_p2")).to_series()
            hit = q.select(pl.struct("_p1", "_p2").is_in(keys.implode())).to_series()
        return (hit & q.get_column("_nn")).alias("_resolved")


_PAIR_SEEDS = (0x72736C31, 0x72736C32)
