"""A day's key hashes kept for a uniqueness verdict in bounded memory.

One 64-bit hash per row would be 320 MB for a 40M-row day, and finding its repeats sorts a
copy. The ledger keeps (hash, day position) pairs in memory up to `memory_rows`, then moves
them to local Arrow IPC files split by the hash's top bits: equal hashes always land in the
same part, so the repeats are found part by part, each part a fraction of the day.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import polars as pl

from assets.config import SPILL_DIR_ENV

_PARTS = 16  # the hash's top 4 bits choose the part
_SHIFT = 60


class KeyLedger:
    """Hashes of a day's keys in order (`add`: one chunk's, null for rows not judged), and the
    day positions of rows whose hash occurs more than once (`repeated`)."""

    def __init__(self, memory_rows: int):
        self.memory_rows = memory_rows
        self.rows = 0  # positions handed out (nulls included)
        self._held: list[pl.DataFrame] = []
        self._held_rows = 0
        self._dir: str | None = None
        self._files = 0

    def add(self, hashes: pl.Series) -> None:
        frame = pl.DataFrame({"h": hashes.cast(pl.UInt64)}).with_row_index("pos", offset=self.rows)
        self.rows += hashes.len()
        frame = frame.drop_nulls("h").select("h", pl.col("pos").cast(pl.UInt64))
        if frame.height == 0:
            return
        self._held.append(frame)
        self._held_rows += frame.height
        if self._held_rows > self.memory_rows:
            self._spill()

    def _spill(self) -> None:
        if not self._held:
            return
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="hermit-keys-", dir=os.environ.get(SPILL_DIR_ENV))
        held = pl.concat(self._held, rechunk=False)
        self._held, self._held_rows = [], 0
        parts = held.with_columns(_part=(pl.col("h") // (1 << _SHIFT)).cast(pl.UInt8))
        for (part,), frame in parts.partition_by("_part", as_dict=True).items():
            name = os.path.join(self._dir, f"{part:02d}-{self._files:06d}.arrow")
            frame.drop("_part").write_ipc(name, compression="uncompressed")
        self._files += 1

    def repeated(self) -> pl.Series:
        """Day positions (sorted) of the rows whose hash occurs more than once."""
        try:
            if self._dir is None:
                found = [_repeats(pl.concat(self._held)) if self._held else None]
            else:
                self._spill()
                found = [_repeats(self._part(p)) for p in range(_PARTS)]
            hits = [f for f in found if f is not None and f.len()]
            if not hits:
                return pl.Series([], dtype=pl.Int64)
            return pl.concat(hits).sort().cast(pl.Int64)
        finally:
            self.close()

    def _part(self, part: int) -> pl.DataFrame | None:
        names = sorted(n for n in os.listdir(self._dir) if n.startswith(f"{part:02d}-"))
        if not names:
            return None
        return pl.concat([pl.read_ipc(os.path.join(self._dir, n)) for n in names])

    def close(self) -> None:
        self._held, self._held_rows = [], 0
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __del__(self):  # a ledger dropped without a verdict leaves no files behind
        self.close()


def _repeats(frame: pl.DataFrame | None) -> pl.Series | None:
    if frame is None or frame.height == 0:
        return None
    twice = frame.filter(pl.col("h").is_duplicated())
    return twice.get_column("pos")
