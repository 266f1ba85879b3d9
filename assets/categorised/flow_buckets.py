"""A day's flow sessions in bounded memory: `flow_sessions` run bucket by bucket of
connection keys instead of over the whole day.

A connection's records (both directions, the pieces of active timeouts) may lie anywhere in
the day, but they all share one key: exporter, protocol and the unordered pair of
(address, port) endpoints, ports zeroed for port-less protocols, as `flow_sessions` keys
them. Each record goes to one of `FINE_BUCKETS` buckets by a hash of that key (a spill that
moves to local disk past one merge's rows); consecutive buckets are then merged together up
to `merge_rows` records at a time. A window of whole buckets holds every record of its keys,
so it gives exactly the sessions the whole day gives for them.

The sessions are handed on in the whole day's order (start, then uid): each window's are set
aside in a second spill and read back by windows of start, so the categorised partition is
row for row what merging the day at once gave. A day that fits one merge is merged at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

import numpy as np
import polars as pl

from assets import memory
from assets.categorised.flow_sessions import PORTED, flow_sessions
from assets.validated.spill import Spill, windows

__all__ = ["FINE_BUCKETS", "MERGE_BYTES_PER_ROW", "DaySessions", "bucket_of", "merge_rows"]

# Working set of `flow_sessions` per flow record (its sort keys, codes, per-session
# aggregates and the output beside the input; measured at 1M records, 10 flows a session).
MERGE_BYTES_PER_ROW = 1_000
# Buckets the records are hashed into: windows of consecutive buckets balance to within one
# bucket (1/4096 of the day) of `merge_rows`.
FINE_BUCKETS = 4096
_BUCKET = "__bucket"
_SECONDS = 86_400


def merge_rows(budget: int | None = None) -> int:
    """Flow records merged at once under the memory budget."""
    return memory.chunk_rows(MERGE_BYTES_PER_ROW, share=0.25, budget=budget)


def bucket_of() -> pl.Expr:
    """Each record's bucket (0..FINE_BUCKETS-1): equal for every record of one connection key
    (either direction), so a bucket holds whole connections."""
    ported = pl.col("protocol").is_in(PORTED)
    src_port = pl.when(ported).then(pl.col("src_port")).otherwise(0).fill_null(0)
    dst_port = pl.when(ported).then(pl.col("dst_port")).otherwise(0).fill_null(0)
    src = pl.struct(addr=pl.col("src_addr"), port=src_port.cast(pl.Int64)).hash(seed=0)
    dst = pl.struct(addr=pl.col("dst_addr"), port=dst_port.cast(pl.Int64)).hash(seed=0)
    key = pl.struct(
        exporter=pl.col("exporter").cast(pl.String),
        protocol=pl.col("protocol").cast(pl.Int64),
        lo=pl.min_horizontal(src, dst),
        hi=pl.max_horizontal(src, dst),
    ).hash(seed=0)
    return (key % FINE_BUCKETS).cast(pl.UInt16)


class DaySessions:
    """The sessions of `day`'s validated flow records (`records`: chunks of
    FLOW_INPUT_COLUMNS), iterated as frames of at most `rows` sessions in start order.
    `records_read` counts the flow records once iteration is done."""

    def __init__(
        self,
        records: Iterable[pl.DataFrame],
        day: dt.date,
        rows: int,
        *,
        merge: int | None = None,
    ) -> None:
        self.records, self.day = records, day
        self.rows = rows
        self.merge = merge or merge_rows()
        self.records_read = 0

    def __iter__(self) -> Iterator[pl.DataFrame]:
        with (
            Spill(self.merge, [_BUCKET], "flow-buckets") as buckets,
            Spill(self.merge, ["ts", "uid"], "flow-sessions") as sessions,
        ):
            counts = np.zeros(FINE_BUCKETS, dtype=np.int64)
            for chunk in self.records:
                if chunk.height == 0:
                    continue
                chunk = chunk.with_columns(bucket_of().alias(_BUCKET))
                counts += np.bincount(chunk.get_column(_BUCKET).to_numpy(), minlength=FINE_BUCKETS)
                self.records_read += chunk.height
                buckets.append(chunk)
                del chunk
                memory.check_budget("flow sessions (bucketing)")
            if self.records_read == 0:
                return
            if not buckets.on_disk:  # the day fits one merge: merged at once
                merged = flow_sessions(buckets.select(None).drop(_BUCKET))
                buckets.close()
                yield from _slices(merged, self.rows)
                return
            midnight = _midnight(self.day)
            per_second = np.zeros(_SECONDS, dtype=np.int64)
            for low, high in windows(counts.tolist(), self.merge):
                window = buckets.select(
                    pl.col(_BUCKET).is_between(low, high, closed="left"), key_range=(low, high)
                )
                if window is None or window.height == 0:
                    continue
                merged = flow_sessions(window.drop(_BUCKET))
                del window
                seconds = merged.select(
                    ((pl.col("ts") - midnight).dt.total_seconds())
                    .clip(0, _SECONDS - 1)
                    .fill_null(0)
                ).to_series()
                per_second += np.bincount(seconds.to_numpy(), minlength=_SECONDS)
                sessions.append(merged)
                del merged
                memory.check_budget("flow sessions (merging)")
            buckets.close()
            yield from _in_start_order(sessions, per_second, midnight, self.rows)


def _in_start_order(
    sessions: Spill, per_second: np.ndarray, midnight: dt.datetime, rows: int
) -> Iterator[pl.DataFrame]:
    """The spilled sessions by start, then uid (the whole day's order), a window of whole
    seconds at a time (the first takes what lies before it, the last what lies after)."""
    ts = pl.col("ts")
    spans = list(windows(per_second.tolist(), rows))
    for i, (first, end) in enumerate(spans):
        cond, low, high = pl.lit(True), None, None
        if i > 0:
            low = midnight + dt.timedelta(seconds=first)
            cond = cond & (ts >= low)
        if i < len(spans) - 1:
            high = midnight + dt.timedelta(seconds=end)
            cond = cond & (ts < high)
        frame = sessions.select(cond, key_range=(low, high))
        if frame is None or frame.height == 0:
            continue
        yield from _slices(frame.sort("ts", "uid"), rows)
        del frame


def _slices(frame: pl.DataFrame, rows: int) -> Iterator[pl.DataFrame]:
    for offset in range(0, frame.height, rows):
        yield frame.slice(offset, rows)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
