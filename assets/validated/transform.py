"""Raw Zeek files -> one validated partition (typed rows) + its quarantine. Pure: no I/O.

Time rule (docs/architecture.md): partition D gets the files of folders D..D+L. A record of
folder F whose ts parses and falls in F-L <= day(ts) <= F belongs to partition day(ts), which
runs every other check on it; any other record of folder F (a line that does not parse, a
missing or unparseable ts, a ts outside that window as `late`/`future`) is quarantined by
partition F. So each raw record lands exactly once, in a validated table or a quarantine.
An un-rotated file (`<log>.log`, no rotation stamp: e.g. `zeek -r` over a long capture) may
run past its folder's day: its window is F-L <= day(ts) <= F+U, and partition D also reads
the un-rotated files of folders D-U..D-1 (U = `unrotated_days`).

Counting: a record is a data line (TSV), a JSON line, or one damaged-stream entry (the
`corrupt_stream` entry of a gzip that breaks off counts as one record: it stands for the
line the damage cut). Header and comment lines are not records.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from assets.validated.schemas import (
    DEDUP_KEYS,
    QUARANTINE_SCHEMA,
    REASONS,
    REQUIRED_FIELDS,
    VALIDATED_SCHEMAS,
    ZEEK_FIELDS,
)
from assets.zeek.convert import REASON, convert, explain
from assets.zeek.inflate import Inflated, inflate
from assets.zeek.names import is_rotated, log_name
from assets.zeek.reader import read_inflated, read_zeek
from assets.zeek.records import LINE, SOURCE, Segment

# How many days past its folder's day an un-rotated `<log>.log` may run (HERMIT_UNROTATED_DAYS)
UNROTATED_DAYS = 1
_FILE = "__file"  # index of the file a duplicate came from (to quote its raw text)
_SEG = "__seg"  # index of the segment within that file


@dataclass(frozen=True)
class RawFile:
    source_file: str  # path relative to the raw root, recorded in quarantine
    folder_day: dt.date  # the date folder it was found in
    sensor: str
    load: Callable[[], bytes]  # the file's stored bytes (maybe gzip-compressed)


@dataclass
class ValidationResult:
    valid: pl.DataFrame  # exactly VALIDATED_SCHEMAS[table], sorted by ts
    quarantine: pl.DataFrame  # exactly QUARANTINE_SCHEMA
    counts: dict[str, int] = field(default_factory=dict)


def log_table(filename: str) -> str | None:
    """The Zeek log a raw file holds: `conn.00:00:00-01:00:00.log.gz` -> `conn`."""
    return log_name(filename)


def validate_partition(
    files: Iterable[RawFile],
    table: str,
    day: dt.date,
    lateness_days: int = 1,
    unrotated_days: int = UNROTATED_DAYS,
) -> ValidationResult:
    """Validate the records owned by partition `day` among `files`: those of folders
    day..day+L, and the un-rotated files of folders day-U..day-1 (U = `unrotated_days`)."""
    if table not in ZEEK_FIELDS:
        raise ValueError(f"unknown table {table!r}; expected one of {sorted(ZEEK_FIELDS)}")
    last_folder = day + dt.timedelta(days=lateness_days)
    first_folder = day - dt.timedelta(days=unrotated_days)
    ordered = sorted(
        (
            f
            for f in files
            if day <= f.folder_day <= last_folder
            or (first_folder <= f.folder_day < day and not is_rotated(f.source_file))
        ),
        key=lambda f: (f.folder_day, f.sensor, f.source_file),
    )
    fields, required = ZEEK_FIELDS[table], REQUIRED_FIELDS[table]
    schema = VALIDATED_SCHEMAS[table]
    lateness = dt.timedelta(days=lateness_days)

    # Segments are folded in as they are read, alike ones (same folder, sensor, header) in
    # batches of up to SEGMENT_BATCH_ROWS rows: the sound rows (typed, in the output schema)
    # join `rows`, flagged rows are explained into `quarantined` while their text is still at
    # hand, and nothing else of a file is kept. Only duplicates are known after the last file;
    # their few source files are read again to quote the raw lines.
    rows: list[pl.DataFrame] = []
    parts: list[_Part] = []
    quarantined: list[pl.DataFrame] = [pl.DataFrame(schema=QUARANTINE_SCHEMA)]
    counts = {
        "raw_records": 0,
        "to_earlier_partitions": 0,
        "to_later_partitions": 0,
        "from_later_folders": 0,
        "from_earlier_folders": 0,
    }
    forward = dt.timedelta(days=unrotated_days)

    def fold(batch: list[tuple[RawFile, int, int, Segment]]) -> None:
        """Convert a batch of segments alike (one folder, sensor and header) in one query:
        per-file work is mostly fixed cost, and hourly files of a quiet network are small."""
        raw_file = batch[0][0]
        seg = batch[0][3] if len(batch) == 1 else _joined(s for *_, s in batch)
        ahead = dt.timedelta(0) if is_rotated(raw_file.source_file) else forward
        kept, n_earlier, n_later = _owned_rows(
            convert(seg, fields, required), raw_file.folder_day, day, lateness, ahead
        )
        if raw_file.folder_day == day:
            counts["to_earlier_partitions"] += n_earlier
            counts["to_later_partitions"] += n_later
        elif raw_file.folder_day > day:
            counts["from_later_folders"] += kept.height
        else:
            counts["from_earlier_folders"] += kept.height
        if kept.height and kept[REASON].null_count() < kept.height:
            flagged = kept.filter(pl.col(REASON).is_not_null())
            for i, (f, _, _, original) in enumerate(batch):
                mine = flagged if len(batch) == 1 else flagged.filter(pl.col(SOURCE) == i)
                if mine.height:
                    quarantined.append(
                        _quarantine_rows(
                            mine, f, original, fields, required, lateness_days, unrotated_days
                        )
                    )
            kept = kept.filter(pl.col(REASON).is_null())
        if kept.height == 0:
            return
        rows.append(
            kept.select(
                *[pl.col(c).cast(t) for c, t in schema.items() if c != "sensor"],
                pl.lit(raw_file.sensor, dtype=pl.String).alias("sensor"),
                LINE,
            ).select(*schema, LINE)
        )
        heights = [kept.height]
        if len(batch) > 1:
            per = dict(kept.group_by(SOURCE).len().iter_rows())
            heights = [per.get(i, 0) for i in range(len(batch))]
        for (f, file_no, seg_no, _), height in zip(batch, heights, strict=True):
            if height:
                parts.append(_Part(f, file_no, seg_no, height))

    pending: list[tuple[RawFile, int, int, Segment]] = []
    pending_key: tuple = ()
    pending_rows = 0
    with contextlib.closing(_inflated_ahead(ordered)) as inflated_files:
        for file_no, (raw_file, inflated) in enumerate(inflated_files):
            read = read_inflated(inflated, numeric=fields)
            del inflated
            own_folder = raw_file.folder_day == day
            if own_folder:
                counts["raw_records"] += read.records
                if read.problems.height:
                    quarantined.append(
                        read.problems.select(
                            "reason",
                            "detail",
                            pl.lit(raw_file.source_file).alias("source_file"),
                            "line_number",
                            "raw",
                            pl.lit(raw_file.sensor).alias("sensor"),
                        )
                    )
            for seg_no, seg in enumerate(read.segments):
                key = _batch_key(raw_file, seg)
                if pending and (key != pending_key or pending_rows >= SEGMENT_BATCH_ROWS):
                    fold(pending)
                    pending, pending_rows = [], 0
                pending.append((raw_file, file_no, seg_no, seg))
                pending_key, pending_rows = key, pending_rows + seg.frame.height
            del read
        if pending:
            fold(pending)

    records = (
        pl.concat(rows, how="vertical", rechunk=False)
        if rows
        else pl.DataFrame(schema=schema | {LINE: pl.Int64})
    )
    rows.clear()
    # The day's columns are chunked differently (the CSV reader's chunks, one per file for
    # `sensor`), and a frame-wide operation would first realign, i.e. copy, all of them:
    # the day is handled column by column from here on.
    duplicate = _duplicates(records, table)
    if duplicate is not None:
        quarantined.append(_duplicate_rows(records, duplicate, parts, fields))
    order = _valid_order(records.get_column("ts"), duplicate)
    columns = [records.get_column(c) for c in schema]
    del records
    valid = pl.DataFrame(_gather_all(columns, order))

    quarantine = pl.concat(quarantined, how="vertical_relaxed").select(
        [pl.col(c).cast(t) for c, t in QUARANTINE_SCHEMA.items()]
    )
    quarantine = quarantine.sort("source_file", "line_number", nulls_last=True, maintain_order=True)

    counts["valid"] = valid.height
    counts["quarantined"] = quarantine.height
    by_reason = dict(quarantine.group_by("reason").len().iter_rows())
    counts |= {f"quarantined_{r}": int(by_reason.get(r, 0)) for r in REASONS}
    return ValidationResult(valid=valid, quarantine=quarantine, counts=counts)


# Rows of small segments converted together (bounds the raw text held before a conversion).
SEGMENT_BATCH_ROWS = 200_000


def _batch_key(raw_file: RawFile, seg: Segment) -> tuple:
    """Segments with equal keys convert identically, so they can be converted as one."""
    return (
        raw_file.folder_day,
        raw_file.sensor,
        is_rotated(raw_file.source_file),  # un-rotated files have a wider time window
        tuple(seg.frame.schema.items()),
        tuple(seg.types.items()),
        seg.separator,
        seg.set_separator,
        seg.unset,
        seg.empty,
        seg.escaped,
    )


def _joined(segments: Iterable[Segment]) -> Segment:
    """One segment of several alike, each row tagged with its segment's index (SOURCE)."""
    segments = list(segments)
    first = segments[0]
    frame = pl.concat(
        [
            s.frame.with_columns(pl.lit(i, dtype=pl.Int32).alias(SOURCE))
            for i, s in enumerate(segments)
        ],
        how="vertical",
        rechunk=False,
    )
    # the same header; no text: rows are quoted from their own segment (`_quarantine_rows`)
    return dataclasses.replace(first, frame=frame, text=None, first_line=1)


def _inflated_ahead(files: list[RawFile]) -> Iterator[tuple[RawFile, Inflated]]:
    """Each file loaded and inflated, the next one in a background thread while the caller
    parses this one: the load is I/O (S3 latency), and zlib, most of the remaining time, runs
    without the GIL beside polars. Holds the current file's bytes and the next one's.
    Close it (contextlib.closing) so an error in the caller stops the prefetch at once."""
    if not files:
        return
    pool = ThreadPoolExecutor(1, thread_name_prefix="hermit-inflate")
    ahead = pool.submit(_load_inflated, files[0])
    try:
        for i, raw_file in enumerate(files):
            current = ahead.result()
            if i + 1 < len(files):
                ahead = pool.submit(_load_inflated, files[i + 1])
            yield raw_file, current
            del current
    finally:
        ahead.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


def _load_inflated(raw_file: RawFile) -> Inflated:
    """The file inflated; a file that cannot be read (a symlink loop, no permission, gone
    since it was listed) is one `unreadable_file` entry naming it, and the day goes on."""
    try:
        stored = raw_file.load()
    except OSError as e:
        if not _about_the_file(e):
            raise  # storage trouble (after the lake's retries): fail, never drop the file
        return Inflated(b"", f"cannot read {raw_file.source_file}: {e}", "unreadable_file")
    return inflate(stored, gzip_expected=raw_file.source_file.endswith(".gz"))


# errors that say something about the file itself, not about the storage: retrying or waiting
# cannot change them, so the file is quarantined and the day goes on
_FILE_ERRNOS = {errno.ELOOP, errno.EACCES, errno.EPERM, errno.ENOENT, errno.EISDIR, errno.ENOTDIR}


def _about_the_file(e: OSError) -> bool:
    return isinstance(e, PermissionError | FileNotFoundError | IsADirectoryError) or (
        e.errno in _FILE_ERRNOS
    )


@dataclass(frozen=True)
class _Part:
    """Where a run of consecutive sound rows came from (to quote them if found duplicate)."""

    raw_file: RawFile
    file_no: int
    segment: int  # index of the segment in the file's ZeekRead
    height: int


def _owned_rows(
    converted: pl.DataFrame,
    folder: dt.date,
    day: dt.date,
    lateness: dt.timedelta,
    ahead: dt.timedelta,
) -> tuple[pl.DataFrame, int, int]:
    """Rows of one segment (of folder `folder`) that partition `day` owns, with late/future
    marked; and how many of the folder's rows belong to earlier and to later partitions.

    A record of folder F is in window when F-L <= day(ts) <= F+A (A = `ahead`: 0 for a rotated
    file, U for an un-rotated one, which may run past its folder's day)."""
    ts = pl.col("ts")
    # compare instants with day boundaries (cheaper than deriving a date per row)
    in_window = ts.is_between(
        _midnight(folder - lateness), _midnight(folder + ahead + _DAY), "left"
    )
    on_day = ts.is_between(_midnight(day), _midnight(day + _DAY), "left")
    if folder == day:
        keep = ~in_window.fill_null(False) | on_day
        outside = ~in_window & pl.col(REASON).is_null()
        earlier = in_window & (ts < _midnight(day))
        later = in_window & (ts >= _midnight(day + _DAY))
    else:
        keep = on_day.fill_null(False)
        outside = earlier = later = pl.lit(False)
    n_keep, n_earlier, n_later, n_outside = converted.select(
        keep.sum().alias("keep"),
        earlier.fill_null(False).sum().alias("earlier"),
        later.fill_null(False).sum().alias("later"),
        outside.fill_null(False).sum().alias("outside"),
    ).row(0)
    kept = converted if n_keep == converted.height else converted.filter(keep)
    if n_outside:
        late = (
            pl.when(ts < _midnight(folder - lateness))
            .then(pl.lit("late"))
            .otherwise(pl.lit("future"))
        )
        kept = kept.with_columns(
            pl.when(outside.fill_null(False)).then(late).otherwise(pl.col(REASON)).alias(REASON)
        )
    return kept, n_earlier, n_later


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


_DAY = dt.timedelta(days=1)


def _duplicates(records: pl.DataFrame, table: str) -> pl.Series | None:
    """True for the sound records whose key was seen before (folder, file, line order);
    None when there is none.

    Keys are compared by a 64-bit hash first (cheap on a million rows); only rows whose hash
    repeats are compared exactly, so a hash collision never drops a record.
    """
    if records.height == 0:
        return None
    keys = DEDUP_KEYS[table]
    # per-column hashes, combined with wrapping arithmetic (equal keys give equal hashes);
    # sensors are few and are compared exactly below
    hashed = records.get_column(keys[0]).hash()
    for k in keys[1:]:
        hashed = hashed * _HASH_MIX + records.get_column(k).hash()
    if hashed.n_unique() == hashed.len():
        return None  # the common case, decided by one cheap pass over 64-bit hashes
    candidates = hashed.is_duplicated().arg_true()
    del hashed
    exact = pl.DataFrame([records.get_column(c).gather(candidates) for c in ("sensor", *keys)])
    first = exact.select(pl.struct(exact.columns).is_first_distinct()).to_series()
    later = candidates.filter(~first)
    if later.len() == 0:
        return None
    return pl.repeat(False, records.height, dtype=pl.Boolean, eager=True).scatter(later, True)


_HASH_MIX = 0x100000001B3  # an odd multiplier (FNV-1a's 64-bit prime)


def _valid_order(ts: pl.Series, duplicate: pl.Series | None) -> pl.Series | None:
    """Row indices of the valid records in output order (stable by ts); None: all, as is."""
    frame = pl.DataFrame([ts])
    index = pl.int_range(pl.len(), dtype=pl.get_index_type())
    if duplicate is None:
        if ts.is_sorted():
            return None
        return frame.select(index.sort_by("ts", maintain_order=True)).to_series()
    keep = ~duplicate
    by_ts = index.filter(keep).sort_by(pl.col("ts").filter(keep), maintain_order=True)
    return frame.select(by_ts).to_series()


def _gather_all(columns: list[pl.Series], order: pl.Series | None) -> list[pl.Series]:
    """`columns` in one chunk each, reordered by `order`, one column at a time: each source
    column is released as soon as its copy exists, so the day is never held twice."""
    out = []
    columns.reverse()
    while columns:
        column = columns.pop()
        height = column.len() if order is None else order.len()
        if column.null_count() == column.len():  # e.g. node_name, extra: nothing to move
            out.append(pl.repeat(None, height, dtype=column.dtype, eager=True).alias(column.name))
            continue
        column = column.rechunk()  # a gather from one chunk is ~3x faster
        out.append(column if order is None else column.gather(order))
    return out


def _duplicate_rows(
    records: pl.DataFrame, duplicate: pl.Series, parts: list[_Part], fields: dict[str, str]
) -> pl.DataFrame:
    """Quarantine entries of the duplicates; their files are read again for the raw text."""
    where = duplicate.arg_true()
    starts = pl.Series([0, *itertools.accumulate(p.height for p in parts)][:-1])
    part = starts.search_sorted(where, side="right") - 1
    dups = pl.DataFrame([records.get_column(c).gather(where) for c in ("uid", LINE)]).with_columns(
        pl.Series(_FILE, [p.file_no for p in parts])[part],
        pl.Series(_SEG, [p.segment for p in parts])[part],
    )
    files = {p.file_no: p.raw_file for p in parts}
    out = [pl.DataFrame(schema=QUARANTINE_SCHEMA)]
    for (file_no,), in_file in dups.group_by(_FILE, maintain_order=True):
        raw_file = files[file_no]  # type: ignore[index]
        segments = read_zeek(raw_file.load(), numeric=fields).segments
        for (seg_no,), group in in_file.group_by(_SEG, maintain_order=True):
            seg = segments[seg_no]  # type: ignore[index]
            lines = seg.frame.filter(pl.col(LINE).is_in(group[LINE].implode()))
            text = pl.DataFrame({LINE: lines[LINE], "raw": seg.raw_text(lines)})
            out.append(
                group.join(text, on=LINE, how="left").select(
                    pl.lit("duplicate").alias("reason"),
                    pl.format("uid {} already seen in this partition", "uid").alias("detail"),
                    pl.lit(raw_file.source_file).alias("source_file"),
                    pl.col(LINE).alias("line_number"),
                    "raw",
                    pl.lit(raw_file.sensor).alias("sensor"),
                )
            )
    return pl.concat(out, how="vertical_relaxed")


def _quarantine_rows(
    flagged: pl.DataFrame,
    raw_file: RawFile,
    seg: Segment,
    fields: dict[str, str],
    required: tuple[str, ...],
    lateness_days: int,
    unrotated_days: int,
) -> pl.DataFrame:
    """Quarantine entries (with detail and raw line text) for flagged records of a segment."""
    explained = explain(seg, flagged[LINE], fields, required)
    ahead = 0 if is_rotated(raw_file.source_file) else unrotated_days
    detail = _rule_detail(raw_file.folder_day, lateness_days, ahead)
    return flagged.join(explained, on=LINE, how="left").select(
        pl.col(REASON).alias("reason"),
        pl.coalesce(detail, "detail").alias("detail"),
        pl.lit(raw_file.source_file).alias("source_file"),
        pl.col(LINE).alias("line_number"),
        "raw",
        pl.lit(raw_file.sensor).alias("sensor"),
    )


def _rule_detail(folder_day: dt.date, lateness_days: int, ahead_days: int = 0) -> pl.Expr:
    """Detail of the time-rule reasons (null for the others: `explain` words those)."""
    ts = pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
    folder = pl.lit(folder_day.isoformat())
    reason = pl.col(REASON)
    return (
        pl.when(reason == "late")
        .then(
            pl.format(
                "ts {} is more than {} day(s) before its folder {}",
                ts,
                pl.lit(lateness_days),
                folder,
            )
        )
        .when(reason == "future")
        .then(
            pl.format("ts {} is after its folder {}", ts, folder)
            if not ahead_days
            else pl.format(
                "ts {} is more than {} day(s) after its folder {} (HERMIT_UNROTATED_DAYS)",
                ts,
                pl.lit(ahead_days),
                folder,
            )
        )
        .otherwise(None)
    )
