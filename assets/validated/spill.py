"""Rows of a day set aside while its files are read, and read back in order: a spill that
stays in memory while it is small and moves to a local Parquet file when it outgrows its
budget, so a day of any size is ordered (a merge of sorted runs) in bounded memory.

Each run (a chunk of rows as one file produced them) is written sorted by its order key, in
small row groups: a later query for a window of the key reads only the row groups whose
statistics overlap it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

import polars as pl
import pyarrow.parquet as pq

SPILL_DIR_ENV = "HERMIT_SPILL_DIR"
# Rows of a spill row group: small enough for a window query to skip most of a run, big
# enough that the footer stays small.
_GROUP_ROWS = 32_768


class Spill:
    """Frames of one schema, appended in order, queried back by predicate.

    memory_rows: rows held in memory before everything moves to disk (then only the
    writer's buffer is held). order: the columns each run is sorted by on disk (statistics
    for window queries); queries sort their own result, so this only affects speed.
    """

    def __init__(self, memory_rows: int, order: list[str] | None = None, name: str = "spill"):
        self.memory_rows = memory_rows
        self.order = order or []
        self.name = name
        self.rows = 0
        self._frames: list[pl.DataFrame] = []
        self._dir: str | None = None
        self._path: str | None = None
        self._writer: pq.ParquetWriter | None = None

    @property
    def on_disk(self) -> bool:
        return self._path is not None

    def append(self, df: pl.DataFrame) -> None:
        if df.height == 0:
            return
        self.rows += df.height
        if self._path is None:
            self._frames.append(df)
            if self.rows > self.memory_rows:
                held, self._frames = self._frames, []
                for frame in held:
                    self._write(frame)
            return
        self._write(df)

    def _write(self, df: pl.DataFrame) -> None:
        if self.order:
            df = df.sort(self.order, maintain_order=True)
        table = df.to_arrow(compat_level=pl.CompatLevel.oldest())
        if self._writer is None:
            base = os.environ.get(SPILL_DIR_ENV) or None
            self._dir = tempfile.mkdtemp(prefix=f"hermit-{self.name}-", dir=base)
            self._path = os.path.join(self._dir, "spill.parquet")
            # lz4: the spill is read back once or a few times, soon; speed over size
            self._writer = pq.ParquetWriter(self._path, table.schema, compression="lz4")
        self._writer.write_table(table, row_group_size=_GROUP_ROWS)

    def _finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def select(self, predicate: pl.Expr | None = None, columns: list[str] | None = None):
        """The rows matching `predicate` (all: None) as one frame: in append order while in
        memory, in no set order once on disk (callers sort by their own sequence column)."""
        if self._path is None:
            if not self._frames:
                return None
            lf = pl.concat(self._frames, how="vertical", rechunk=False).lazy()
        else:
            self._finish()
            lf = pl.scan_parquet(self._path)
        if predicate is not None:
            lf = lf.filter(predicate)
        if columns is not None:
            lf = lf.select(columns)
        return lf.collect()

    def close(self) -> None:
        self._frames = []
        with contextlib.suppress(Exception):
            self._finish()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = self._path = None

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def windows(counts: list[int], max_rows: int) -> Iterator[tuple[int, int]]:
    """Consecutive [start, end) bucket ranges holding at most `max_rows` rows each (a bucket
    bigger than that is a window alone); buckets without rows are folded into a neighbour."""
    start, held = 0, 0
    for i, n in enumerate(counts):
        if held and held + n > max_rows:
            yield start, i
            start, held = i, 0
        held += n
    if held:
        yield start, len(counts)
