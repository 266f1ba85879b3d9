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
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from assets.validated.fold import (
    Part,
    day_duplicates,
    duplicate_rows,
    gather_all,
    owned_rows,
    quarantine_rows,
    valid_order,
)
from assets.validated.raw_file import RawFile
from assets.validated.schemas import (
    QUARANTINE_SCHEMA,
    REASONS,
    REQUIRED_FIELDS,
    VALIDATED_SCHEMAS,
    ZEEK_FIELDS,
)
from assets.validated.segments import batch_key, inflated_ahead, joined
from assets.zeek.convert import REASON, convert
from assets.zeek.names import is_rotated, log_name
from assets.zeek.reader import read_inflated
from assets.zeek.records import LINE, SOURCE, Segment

__all__ = ["RawFile", "ValidationResult", "log_table", "validate_partition"]

# How many days past its folder's day an un-rotated `<log>.log` may run (HERMIT_UNROTATED_DAYS)
UNROTATED_DAYS = 1


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
    parts: list[Part] = []
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
        seg = batch[0][3] if len(batch) == 1 else joined(s for *_, s in batch)
        ahead = dt.timedelta(0) if is_rotated(raw_file.source_file) else forward
        kept, n_earlier, n_later = owned_rows(
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
                        quarantine_rows(
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
                parts.append(Part(f, file_no, seg_no, height))

    pending: list[tuple[RawFile, int, int, Segment]] = []
    pending_key: tuple = ()
    pending_rows = 0
    with contextlib.closing(inflated_ahead(ordered)) as inflated_files:
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
                key = batch_key(raw_file, seg)
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
    duplicate = day_duplicates(records, table)
    if duplicate is not None:
        quarantined.append(duplicate_rows(records, duplicate, parts, fields))
    order = valid_order(records.get_column("ts"), duplicate)
    columns = [records.get_column(c) for c in schema]
    del records
    valid = pl.DataFrame(gather_all(columns, order))

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
