"""Rows of a day set aside while its files are read, and read back in order: a spill that
stays in memory while it is small and moves to local files when it outgrows its budget, so a
day of any size is ordered (a merge of sorted runs) in bounded memory.

Each run (a chunk of rows as one file produced them) is one Arrow IPC file, sorted by its
order key, in small record batches whose key range is kept in memory: a query for a range
of the key maps in only the batches that overlap it. IPC rather than Parquet: written and
read back without encoding or compression (measured ~5x cheaper here), and the spill lives
for one step on local disk.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

from assets.config import SPILL_DIR_ENV

# Rows of a spill batch: small enough for a range query to skip most of a run.
_BATCH_ROWS = 32_768
# A batch of a time-ordered run holds one cell of this many seconds at most: a run's few
# outliers (a long connection that began hours before the rest of its file) then sit in
# small batches of their own, not in a batch whose range spans hours and that every window
# of those hours would read (at 40M conn records that read each row ~13 times).
_CELL_SECONDS = 300


@dataclass(frozen=True)
class _Run:
    path: str
    lows: list  # the order key's first value in each batch
    highs: list  # and its last


class Spill:
    """Frames of one schema, appended in order, queried back by predicate and key range.

    memory_rows: rows held in memory before everything moves to disk (then nothing is held).
    order: the columns each run is sorted by on disk; range queries are on the first one.
    Queries sort their own result, so the order only serves the range queries.
    """

    def __init__(self, memory_rows: int, order: list[str] | None = None, name: str = "spill"):
        self.memory_rows = memory_rows
        self.order = order or []
        self.name = name
        self.rows = 0
        self._frames: list[pl.DataFrame] = []
        self._dir: str | None = None
        self._runs: list[_Run] = []

    @property
    def on_disk(self) -> bool:
        return self._dir is not None

    def append(self, df: pl.DataFrame) -> None:
        if df.height == 0:
            return
        self.rows += df.height
        if self._dir is None:
            self._frames.append(df)
            if self.rows > self.memory_rows:
                held, self._frames = self._frames, []
                for frame in held:
                    self._write(frame)
            return
        self._write(df)

    def _write(self, df: pl.DataFrame) -> None:
        if self.order and not in_order(df, self.order):
            df = df.sort(self.order, maintain_order=True)
        if self._dir is None:
            base = os.environ.get(SPILL_DIR_ENV) or None
            self._dir = tempfile.mkdtemp(prefix=f"hermit-{self.name}-", dir=base)
        path = os.path.join(self._dir, f"run-{len(self._runs)}.arrow")
        # Plain (large) strings, copied into polars' own memory when read back: string views
        # read zero-copy would keep the mapped file pages of whole batches alive in every
        # frame gathered from them (measured: +460 MiB at 10M conn records).
        table = df.to_arrow(compat_level=pl.CompatLevel.oldest())
        lows, highs = [], []
        key = df.get_column(self.order[0]) if self.order else None
        with pa.OSFile(path, "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            for lo, hi in _batch_bounds(key, df.height):
                at = lo
                for batch in table.slice(lo, hi - lo).to_batches(max_chunksize=_BATCH_ROWS):
                    if batch.num_rows == 0:
                        continue
                    writer.write_batch(batch)
                    if key is not None:
                        lows.append(key[at])
                        highs.append(key[at + batch.num_rows - 1])
                    at += batch.num_rows
        self._runs.append(_Run(path, lows, highs))

    def select(
        self,
        predicate: pl.Expr | None = None,
        columns: list[str] | None = None,
        key_range: tuple | None = None,
    ) -> pl.DataFrame | None:
        """The rows matching `predicate` (all: None) as one frame, in no set order (callers
        sort by their own sequence column); None when nothing was appended. key_range:
        (low, high) on the first order column, either None for open, high excluded: only the
        batches that can hold such rows are read (the predicate must imply the range)."""
        if self._dir is None:
            if not self._frames:
                return None
            frame = pl.concat(self._frames, how="vertical", rechunk=False)
            if predicate is not None:
                frame = frame.filter(predicate)
            return frame if columns is None else frame.select(columns)
        # run by run: a predicate that keeps few rows (the duplicates' candidates) never
        # has the whole day's columns read at once
        needed = None
        if columns is not None:
            named = predicate.meta.root_names() if predicate is not None else []
            needed = list(dict.fromkeys([*columns, *named]))
        kept = []
        for run in self._runs:
            frame = self._read_run(run, needed, key_range)
            if frame is None:
                continue
            if predicate is not None:
                frame = frame.filter(predicate)
            kept.append(frame if columns is None else frame.select(columns))
        if not kept:
            return self._empty(columns)
        return pl.concat(kept, how="vertical", rechunk=False) if len(kept) > 1 else kept[0]

    def _read_run(self, run: _Run, columns: list[str] | None, key_range) -> pl.DataFrame | None:
        low, high = key_range or (None, None)
        wanted = (
            [i for i in range(len(run.lows)) if not _outside(run.lows[i], run.highs[i], low, high)]
            if run.lows
            else None
        )
        if wanted == []:
            return None  # decided on the key ranges held in memory: the file is not opened
        # mapped, not copied: only the batches used are paged in, and unmapped with them
        with pa.memory_map(run.path) as source:
            reader = ipc.open_file(source)
            batches = [
                reader.get_batch(i) if columns is None else reader.get_batch(i).select(columns)
                for i in (range(reader.num_record_batches) if wanted is None else wanted)
            ]
            if not batches:
                return None
            return pl.from_arrow(pa.Table.from_batches(batches))  # type: ignore[return-value]

    def _empty(self, columns: list[str] | None) -> pl.DataFrame:
        with pa.memory_map(self._runs[0].path) as source:
            schema = ipc.open_file(source).schema
        schema = schema if columns is None else _pick(schema, columns)
        return pl.from_arrow(pa.Table.from_batches([], schema=schema))  # type: ignore[return-value]

    def close(self) -> None:
        self._frames = []
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir, self._runs = None, []

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def in_order(df: pl.DataFrame, order: list[str]) -> bool:
    """Whether `df` is already sorted by the `order` columns (ascending, without nulls): a
    log written in time order (ssl, http) needs no sort, and checking costs one pass."""
    if df.height < 2:
        return True
    if any(df.get_column(c).null_count() for c in order):
        return False
    ok = pl.lit(True)
    for c in reversed(order):  # row i >= row i-1, lexicographically over `order`
        this, prev = pl.col(c), pl.col(c).shift(1)
        ok = (this > prev) | ((this == prev) & ok)
    return bool(df.select(ok.slice(1).all()).item())


def _batch_bounds(key: pl.Series | None, height: int) -> list[tuple[int, int]]:
    """[lo, hi) row ranges of a sorted run that batches must not cross: one per cell of
    _CELL_SECONDS of a temporal key (nulls, first, their own), else the whole run."""
    if key is None or not key.dtype.is_temporal() or height == 0:
        return [(0, height)]
    cells = (key.dt.epoch("s") // _CELL_SECONDS).fill_null(-(2**62)).to_numpy()
    cuts = (np.flatnonzero(cells[1:] != cells[:-1]) + 1).tolist()
    edges = [0, *cuts, height]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _outside(first, last, low, high) -> bool:
    """Whether a batch whose key runs first..last holds nothing in [low, high)."""
    if first is None or last is None:  # nulls sort first: a batch with one is always read
        return False
    return (low is not None and last < low) or (high is not None and first >= high)


def _pick(schema: pa.Schema, columns: list[str]) -> pa.Schema:
    return pa.schema([schema.field(c) for c in columns])


def windows(counts: list[int], max_rows: int) -> list[tuple[int, int]]:
    """Consecutive [start, end) bucket ranges holding at most `max_rows` rows each (a bucket
    bigger than that is a window alone); buckets without rows are folded into a neighbour."""
    out: list[tuple[int, int]] = []
    start, held = 0, 0
    for i, n in enumerate(counts):
        if held and held + n > max_rows:
            out.append((start, i))
            start, held = i, 0
        held += n
    if held:
        out.append((start, len(counts)))
    return out


def ordered_windows(
    spill: Spill,
    per_second: list[int],
    rows: int,
    day: dt.date,
    order: list[str],
    keep: pl.Expr | None,
) -> Iterator[pl.DataFrame]:
    """The spill's rows that pass `keep` (None: all), sorted by `order` (its first column a
    time of `day`, nulls first), window by window of whole seconds of the day: at most
    `rows` rows a window as `per_second` counts them (a second is never split); the first
    window also takes whatever lies before the day. Each window is read and sorted in a
    thread while the caller writes the one before (the second core)."""
    spans = windows(per_second, rows)
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    key = pl.col(order[0])

    def window(i: int) -> pl.DataFrame | None:
        start, end = spans[i]
        cond, low, high = keep, None, None
        if i > 0:
            low = midnight + dt.timedelta(seconds=start)
            cond = key >= low if cond is None else cond & (key >= low)
        if i < len(spans) - 1:
            high = midnight + dt.timedelta(seconds=end)
            cond = key < high if cond is None else cond & (key < high)
        frame = spill.select(cond, key_range=(low, high))
        if frame is None or frame.height == 0:
            return None
        return frame if in_order(frame, order) else frame.sort(order, nulls_last=False)

    with ThreadPoolExecutor(1, thread_name_prefix="hermit-window") as pool:
        ahead = pool.submit(window, 0) if spans else None
        for i in range(len(spans)):
            assert ahead is not None
            frame = ahead.result()
            ahead = pool.submit(window, i + 1) if i + 1 < len(spans) else None
            if frame is not None:
                yield frame
            del frame
