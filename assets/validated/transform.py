"""Raw Zeek files -> one validated partition (typed rows) + its quarantine. Pure: no I/O.

Time rule (docs/architecture.md): partition D gets the files of folders D..D+L. A record of
folder F whose ts parses and falls in F-L <= day(ts) <= F belongs to partition day(ts), which
runs every other check on it; any other record of folder F (a line that does not parse, a
missing or unparseable ts, a ts outside that window as `late`/`future`) is quarantined by
partition F. So each raw record lands exactly once, in a validated table or a quarantine.
An un-rotated file (`<log>.log`, no rotation stamp: e.g. `zeek -r` over a long capture) may
run past its folder's day: its window is F-L <= day(ts) <= F+U, and partition D also reads
the un-rotated files of folders D-U..D-1 (U = `unrotated_days`).

Streaming: the day is never held whole. Each file's sound rows are typed as it is read and
set aside (a spill that moves to local disk past one chunk); duplicates are found across the
day on 64-bit hashes of the key, compared exactly on a hash hit; the valid rows are then
written in ts order window by window (a merge of the sorted runs), the quarantine by source
file and line. Chunks follow HERMIT_MEMORY_BUDGET (assets/memory.py). The tables are exactly
those of validating the day in one piece, which `validate_partition` returns.

Counting: a record is a data line (TSV), a JSON line, or one damaged-stream entry (the
`corrupt_stream` entry of a gzip that breaks off counts as one record: it stands for the
line the damage cut). Header and comment lines are not records.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import polars as pl

from assets.memory import check_budget
from assets.memory import chunk_rows as budget_chunk_rows
from assets.repeats import RepeatFinder
from assets.validated.fold import (
    Part,
    duplicate_rows,
    key_hashes,
    owned_rows,
    quarantine_rows,
)
from assets.validated.raw_file import RawFile
from assets.validated.schemas import (
    DEDUP_KEYS,
    QUARANTINE_SCHEMA,
    REASONS,
    REQUIRED_FIELDS,
    VALIDATED_SCHEMAS,
    ZEEK_FIELDS,
)
from assets.validated.segments import batch_key, joined, read_ahead
from assets.validated.spill import Spill, ordered_windows
from assets.zeek.convert import REASON, convert
from assets.zeek.names import is_rotated, log_name
from assets.zeek.records import LINE, SOURCE, Segment

__all__ = [
    "RawFile",
    "StreamOutcome",
    "ValidationResult",
    "log_table",
    "stream_partition",
    "validate_partition",
]

# How many days past its folder's day an un-rotated `<log>.log` may run (HERMIT_UNROTATED_DAYS)
UNROTATED_DAYS = 1
# What a chunk of validated rows costs at its widest moment, for the memory budget: the
# typed row, its Arrow copy for the spill or the writer, the window read back and its sorted
# copy, and a row group in flight. Measured at 10M conn records (3 GiB budget): 157k-row
# chunks peaked at 1,259 MiB and ran faster than 393k-row ones (1,469 MiB).
ROW_BYTES = 2560
_SEQ = "__seq"  # a sound row's place in the day's read order (ties of ts keep it)
_QSEQ = "__qseq"  # a quarantine row's place in the order its entries were found
_SECONDS = 86_400


@dataclass
class ValidationResult:
    valid: pl.DataFrame  # exactly VALIDATED_SCHEMAS[table], sorted by ts
    quarantine: pl.DataFrame  # exactly QUARANTINE_SCHEMA
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class StreamOutcome:
    counts: dict[str, int]
    sensors: dict[str, int]  # rows (valid + quarantined) per sensor


class Sink(Protocol):
    def write(self, df: pl.DataFrame) -> None: ...


class _Collect:
    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []

    def write(self, df: pl.DataFrame) -> None:
        self.frames.append(df)

    def frame(self, schema: dict) -> pl.DataFrame:
        if not self.frames:
            return pl.DataFrame(schema=schema)
        return pl.concat(self.frames, how="vertical")


def log_table(filename: str) -> str | None:
    """The Zeek log a raw file holds: `conn.00:00:00-01:00:00.log.gz` -> `conn`."""
    return log_name(filename)


def default_chunk_rows() -> int:
    """Rows of one chunk under HERMIT_MEMORY_BUDGET."""
    return budget_chunk_rows(ROW_BYTES)


def validate_partition(
    files: Iterable[RawFile],
    table: str,
    day: dt.date,
    lateness_days: int = 1,
    unrotated_days: int = UNROTATED_DAYS,
    *,
    chunk_rows: int | None = None,
    piece_bytes: int | None = None,
) -> ValidationResult:
    """Validate the records owned by partition `day` among `files`: those of folders
    day..day+L, and the un-rotated files of folders day-U..day-1 (U = `unrotated_days`).
    The whole partition in memory (see `stream_partition` for writing it as it goes)."""
    valid, quarantine = _Collect(), _Collect()
    outcome = stream_partition(
        files,
        table,
        day,
        lateness_days,
        unrotated_days,
        valid,
        quarantine,
        chunk_rows=chunk_rows,
        piece_bytes=piece_bytes,
    )
    return ValidationResult(
        valid.frame(VALIDATED_SCHEMAS[table]), quarantine.frame(QUARANTINE_SCHEMA), outcome.counts
    )


def stream_partition(
    files: Iterable[RawFile],
    table: str,
    day: dt.date,
    lateness_days: int,
    unrotated_days: int,
    valid_out: Sink,
    quarantine_out: Sink,
    *,
    chunk_rows: int | None = None,
    workers: int | None = None,
    piece_bytes: int | None = None,
) -> StreamOutcome:
    """`validate_partition`, written chunk by chunk: `valid_out` gets the valid rows in ts
    order (VALIDATED_SCHEMAS[table]), `quarantine_out` the quarantine rows by source file and
    line (QUARANTINE_SCHEMA), each in frames of at most `chunk_rows` rows (a second of ts, or
    a source file, is never split). workers: files read and parsed at once; piece_bytes: a
    raw file is read in pieces of about this many inflated bytes (default: from the budget)."""
    if table not in ZEEK_FIELDS:
        raise ValueError(f"unknown table {table!r}; expected one of {sorted(ZEEK_FIELDS)}")
    rows = chunk_rows or default_chunk_rows()
    with (
        Spill(rows, ["ts", _SEQ], f"{table}-valid") as valid,
        Spill(rows, ["source_file", "line_number"], f"{table}-quarantine") as quarantined,
        RepeatFinder(HASHES_HELD_CHUNKS * rows, f"{table}-keys") as keys,
    ):
        day_fold = _DayFold(table, day, lateness_days, unrotated_days, valid, quarantined, keys)
        day_fold.read(files, rows, workers, piece_bytes)
        day_fold.add_duplicates()
        check_budget(f"validate {table} {day}")
        counts = day_fold.counts
        counts["valid"] = _write_valid(day_fold, valid_out, rows)
        by_reason = _write_quarantine(day_fold, quarantine_out, rows)
        counts["quarantined"] = sum(by_reason.values())
        counts |= {f"quarantined_{r}": int(by_reason.get(r, 0)) for r in REASONS}
        return StreamOutcome(counts, day_fold.sensors)


class _DayFold:
    """The day's files folded in one by one: sound rows typed into the valid spill (with
    their key hashes and a histogram of their ts), flagged ones explained into the
    quarantine spill while their text is still at hand; nothing else of a file is kept."""

    def __init__(
        self,
        table,
        day,
        lateness_days,
        unrotated_days,
        valid: Spill,
        quarantined: Spill,
        keys: RepeatFinder,
    ):
        self.table, self.day = table, day
        self.lateness_days, self.unrotated_days = lateness_days, unrotated_days
        self.fields, self.required = ZEEK_FIELDS[table], REQUIRED_FIELDS[table]
        self.schema = VALIDATED_SCHEMAS[table]
        self.valid, self.quarantined = valid, quarantined
        self.parts: list[Part] = []
        self.keys = keys  # the sound rows' key hashes, in seq order
        self.per_second = np.zeros(_SECONDS, dtype=np.int64)
        self.sources: dict[str | None, int] = {}  # quarantine rows per source file
        self.sensors: dict[str, int] = {}
        self.duplicates = pl.Series(_SEQ, [], dtype=pl.UInt64)
        self.seq = self.qseq = 0
        self.counts = {
            "raw_records": 0,
            "to_earlier_partitions": 0,
            "to_later_partitions": 0,
            "from_later_folders": 0,
            "from_earlier_folders": 0,
        }

    def read(
        self, files: Iterable[RawFile], rows: int, workers: int | None, piece: int | None
    ) -> None:
        day = self.day
        last_folder = day + dt.timedelta(days=self.lateness_days)
        first_folder = day - dt.timedelta(days=self.unrotated_days)
        ordered = sorted(
            (
                f
                for f in files
                if day <= f.folder_day <= last_folder
                or (first_folder <= f.folder_day < day and not is_rotated(f.source_file))
            ),
            key=lambda f: (f.folder_day, f.sensor, f.source_file),
        )
        # Segments alike (same folder, sensor, header) are converted in batches of up to
        # SEGMENT_BATCH_ROWS rows: per-file work is mostly fixed cost, and hourly files of a
        # quiet network are small.
        pending: list[tuple[RawFile, int, Segment]] = []
        pending_key: tuple = ()
        pending_rows = 0
        batch_rows = min(SEGMENT_BATCH_ROWS, rows)
        with contextlib.closing(read_ahead(ordered, self.fields, workers, piece)) as reads:
            for file_no, (raw_file, pieces) in enumerate(reads):
                for read in pieces:
                    if raw_file.folder_day == day:
                        self.counts["raw_records"] += read.records
                        if read.problems.height:
                            self._quarantine(
                                read.problems.select(
                                    "reason",
                                    "detail",
                                    pl.lit(raw_file.source_file).alias("source_file"),
                                    "line_number",
                                    "raw",
                                    pl.lit(raw_file.sensor).alias("sensor"),
                                )
                            )
                    for seg in read.segments:
                        key = batch_key(raw_file, seg)
                        if pending and (key != pending_key or pending_rows >= batch_rows):
                            self._fold(pending)
                            pending, pending_rows = [], 0
                        pending.append((raw_file, file_no, seg))
                        pending_key, pending_rows = key, pending_rows + seg.frame.height
                    del read
                    check_budget(f"validate {self.table} {day} ({raw_file.source_file})")
            if pending:
                self._fold(pending)

    def _fold(self, batch: list[tuple[RawFile, int, Segment]]) -> None:
        """Convert a batch of segments alike (one folder, sensor and header) in one query."""
        raw_file = batch[0][0]
        seg = batch[0][2] if len(batch) == 1 else joined(s for *_, s in batch)
        ahead = dt.timedelta(0) if is_rotated(raw_file.source_file) else self._forward
        lateness = dt.timedelta(days=self.lateness_days)
        kept, n_earlier, n_later = owned_rows(
            convert(seg, self.fields, self.required), raw_file.folder_day, self.day, lateness, ahead
        )
        if raw_file.folder_day == self.day:
            self.counts["to_earlier_partitions"] += n_earlier
            self.counts["to_later_partitions"] += n_later
        elif raw_file.folder_day > self.day:
            self.counts["from_later_folders"] += kept.height
        else:
            self.counts["from_earlier_folders"] += kept.height
        if kept.height and kept[REASON].null_count() < kept.height:
            flagged = kept.filter(pl.col(REASON).is_not_null())
            for i, (f, _, original) in enumerate(batch):
                mine = flagged if len(batch) == 1 else flagged.filter(pl.col(SOURCE) == i)
                if mine.height:
                    self._quarantine(
                        quarantine_rows(
                            mine,
                            f,
                            original,
                            self.fields,
                            self.required,
                            self.lateness_days,
                            self.unrotated_days,
                        )
                    )
            kept = kept.filter(pl.col(REASON).is_null())
        if kept.height == 0:
            return
        heights = [kept.height]
        if len(batch) > 1:
            per = dict(kept.group_by(SOURCE).len().iter_rows())
            heights = [per.get(i, 0) for i in range(len(batch))]
        for (f, file_no, _), height in zip(batch, heights, strict=True):
            if height:
                self.parts.append(Part(f, file_no, height))
        sound = kept.select(
            *[pl.col(c).cast(t) for c, t in self.schema.items() if c != "sensor"],
            pl.lit(raw_file.sensor, dtype=pl.String).alias("sensor"),
            LINE,
            (pl.int_range(pl.len(), dtype=pl.UInt64) + self.seq).alias(_SEQ),
        ).select(*self.schema, LINE, _SEQ)
        del kept
        self.seq += sound.height
        self.sensors[raw_file.sensor] = self.sensors.get(raw_file.sensor, 0) + sound.height
        self.keys.add(key_hashes(sound, DEDUP_KEYS[self.table]))
        seconds = sound.select(
            ((pl.col("ts").dt.epoch("us") - _epoch_us(self.day)) // 1_000_000)
            .clip(0, _SECONDS - 1)
            .fill_null(0)
        ).to_series()
        self.per_second += np.bincount(seconds.to_numpy(), minlength=_SECONDS)
        self.valid.append(sound)

    @property
    def _forward(self) -> dt.timedelta:
        return dt.timedelta(days=self.unrotated_days)

    def _quarantine(self, frame: pl.DataFrame) -> None:
        frame = frame.select([pl.col(c).cast(t) for c, t in QUARANTINE_SCHEMA.items()])
        frame = frame.with_columns(
            (pl.int_range(pl.len(), dtype=pl.UInt64) + self.qseq).alias(_QSEQ)
        )
        self.qseq += frame.height
        for source, n in frame.group_by("source_file").len().iter_rows():
            self.sources[source] = self.sources.get(source, 0) + n
        for sensor, n in frame.group_by("sensor").len().iter_rows():
            if sensor is not None:
                self.sensors[sensor] = self.sensors.get(sensor, 0) + n
        self.quarantined.append(frame)

    def add_duplicates(self) -> None:
        """Find the sound rows whose key was seen before in the day (folder, file, line
        order) and quarantine them: 64-bit hashes of every key first, then only the rows
        whose hash repeats are compared exactly, so a hash collision never drops a record."""
        candidates = self.keys.repeated()
        self.keys.close()
        if candidates.len() == 0:
            return
        keys = DEDUP_KEYS[self.table]
        wanted = list(dict.fromkeys([_SEQ, "sensor", *keys, "uid", LINE]))
        exact = self.valid.select(pl.col(_SEQ).is_in(candidates.implode()), wanted).sort(_SEQ)
        first = exact.select(pl.struct("sensor", *keys).is_first_distinct()).to_series()
        later = exact.filter(~first)
        if later.height == 0:
            return
        self.duplicates = later.get_column(_SEQ)
        for sensor, n in later.group_by("sensor").len().iter_rows():
            self.sensors[sensor] -= n  # the row moves from valid to quarantine
        self._quarantine(duplicate_rows(later, _SEQ, self.parts, self.fields))


def _epoch_us(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1_000_000


def _write_valid(day_fold: _DayFold, out: Sink, rows: int) -> int:
    """The sound rows that are not duplicates, in ts order (ties in read order), window by
    window of whole seconds of the day."""
    written = 0
    dups = day_fold.duplicates
    keep = ~pl.col(_SEQ).is_in(dups.implode()) if dups.len() else None
    for frame in ordered_windows(
        day_fold.valid, day_fold.per_second.tolist(), rows, day_fold.day, ["ts", _SEQ], keep
    ):
        frame = frame.select(list(day_fold.schema))
        out.write(frame)
        written += frame.height
        del frame
        check_budget(f"validate {day_fold.table} {day_fold.day}")
    return written


def _write_quarantine(day_fold: _DayFold, out: Sink, rows: int) -> dict[str, int]:
    return write_quarantine(day_fold.sources, day_fold.quarantined, out, rows, QUARANTINE_SCHEMA)


def write_quarantine(
    sources: dict[str | None, int], quarantined: Spill, out: Sink, rows: int, schema
) -> dict[str, int]:
    """A day's quarantine spill (`sources`: its rows per source file) written by source file
    and line (nulls last; ties in the order found), a group of whole source files at a time,
    as `schema`'s columns; the rows per reason."""
    by_reason: dict[str, int] = {}
    ordered = sorted(s for s in sources if s is not None) + ([None] if None in sources else [])
    groups: list[list[str | None]] = []
    held = 0
    for source in ordered:
        n = sources[source]
        if groups and held + n <= rows:
            groups[-1].append(source)
            held += n
        else:
            groups.append([source])
            held = n
    for group in groups:
        named = [s for s in group if s is not None]
        cond = pl.col("source_file").is_in(pl.Series(named, dtype=pl.String).implode())
        if None in group:
            cond = cond | pl.col("source_file").is_null()
        frame = quarantined.select(cond if len(groups) > 1 else None)
        if frame is None or frame.height == 0:
            continue
        frame = frame.sort("source_file", "line_number", _QSEQ, nulls_last=True).select(
            list(schema)
        )
        for reason, n in frame.group_by("reason").len().iter_rows():
            by_reason[reason] = by_reason.get(reason, 0) + n
        out.write(frame)
        del frame
    return by_reason


# Key hashes held in memory, in chunks' worth of rows, before they move to local files (so a
# day of any size finds its duplicates in bounded memory).
HASHES_HELD_CHUNKS = 4
# Rows of small segments converted together (bounds the raw text held before a conversion).
SEGMENT_BATCH_ROWS = 200_000
