"""Which of a day's 64-bit key hashes occur more than once, in memory bounded whatever the
day's size: the hashes are held while few, then moved to local files by their top bits
(radix buckets), so finding the repeats reads one bucket at a time. A day-wide duplicate
check then costs 16 bytes a row of disk, not 8-24 bytes a row of memory (at 40M rows the
in-memory form held 320 MB and sorted a copy of it)."""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref

import numpy as np
import polars as pl

from assets.config import SPILL_DIR_ENV

_BUCKET_BITS = 6  # 64 buckets: a 40M-row day reads ~10 MB of hashes at a time


class RepeatFinder:
    """Hashes added in the day's order (`add`); `repeated` gives the positions (0-based,
    in that order, nulls counted as rows but never repeats) of those that occur twice or more.

    memory_values: hashes held in memory before all of them move to bucket files."""

    def __init__(self, memory_values: int, name: str = "hashes"):
        self.memory_values = memory_values
        self.name = name
        self.count = 0
        self._held: list[tuple[np.ndarray, np.ndarray]] = []
        self._held_values = 0
        self._dir: str | None = None

    @property
    def on_disk(self) -> bool:
        return self._dir is not None

    def add(self, hashes: pl.Series) -> None:
        n = hashes.len()
        positions = np.arange(self.count, self.count + n, dtype=np.uint64)
        self.count += n
        if hashes.null_count():
            keep = hashes.is_not_null().to_numpy()
            hashes, positions = hashes.filter(keep), positions[keep]
        values = hashes.cast(pl.UInt64).to_numpy()
        if values.size == 0:
            return
        self._held.append((values, positions))
        self._held_values += values.size
        if self._held_values > self.memory_values:
            self._spill()

    def _spill(self) -> None:
        held, self._held, self._held_values = self._held, [], 0
        if self._dir is None:
            base = os.environ.get(SPILL_DIR_ENV) or None
            self._dir = tempfile.mkdtemp(prefix=f"hermit-{self.name}-", dir=base)
            # removed with the finder even if `close` is never reached (an audit given up)
            self._finalizer = weakref.finalize(self, shutil.rmtree, self._dir, True)
        for values, positions in held:
            # uint8 bucket numbers: numpy sorts small integers stably by radix, ~10x faster
            bucket = (values >> np.uint64(64 - _BUCKET_BITS)).astype(np.uint8)
            order = np.argsort(bucket, kind="stable")
            bounds = np.searchsorted(bucket[order], np.arange((1 << _BUCKET_BITS) + 1))
            pairs = np.empty((values.size, 2), dtype=np.uint64)
            pairs[:, 0], pairs[:, 1] = values[order], positions[order]
            for b in range(1 << _BUCKET_BITS):
                lo, hi = bounds[b], bounds[b + 1]
                if hi > lo:
                    with open(self._bucket(b), "ab") as fh:
                        pairs[lo:hi].tofile(fh)

    def _bucket(self, b: int) -> str:
        assert self._dir is not None
        return os.path.join(self._dir, f"bucket-{b}.u64")

    def repeated(self) -> pl.Series:
        """Positions (UInt64, ascending) of the hashes that occur more than once."""
        if self._dir is None:
            held, self._held, self._held_values = self._held, [], 0
            if not held:
                return _NONE
            values = np.concatenate([v for v, _ in held])
            positions = np.concatenate([p for _, p in held])
            del held
            return pl.Series(positions[_repeats(values)], dtype=pl.UInt64).sort()
        self._spill()
        found = []
        for b in range(1 << _BUCKET_BITS):
            path = self._bucket(b)
            if not os.path.exists(path):
                continue
            pairs = np.fromfile(path, dtype=np.uint64).reshape(-1, 2)
            found.append(pairs[_repeats(pairs[:, 0]), 1])
            del pairs
        if not found:
            return _NONE
        return pl.Series(np.concatenate(found), dtype=pl.UInt64).sort()

    def close(self) -> None:
        self._held, self._held_values = [], 0
        if self._dir is not None:
            self._finalizer()
            self._dir = None

    def __enter__(self) -> RepeatFinder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_NONE = pl.Series([], dtype=pl.UInt64)


def _repeats(values: np.ndarray) -> np.ndarray:
    """A mask of the values that occur more than once (a sort and one comparison of
    neighbours: the common case, no repeat, needs no hash table)."""
    if values.size < 2:
        return np.zeros(values.size, dtype=bool)
    ordered = np.sort(values)
    twice = ordered[1:][ordered[1:] == ordered[:-1]]
    del ordered
    if twice.size == 0:
        return np.zeros(values.size, dtype=bool)
    return np.isin(values, np.unique(twice))
