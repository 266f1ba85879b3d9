"""Raw Zeek files -> one validated partition (typed rows) + its quarantine. Pure: no I/O.

Time rule (docs/architecture.md): partition D gets the files of folders D..D+L. A record of
folder F whose ts parses and falls in F-L <= day(ts) <= F belongs to partition day(ts), which
runs every other check on it; any other record of folder F (a line that does not parse, a
missing or unparseable ts, a ts outside that window as `late`/`future`) is quarantined by
partition F. So each raw record lands exactly once, in a validated table or a quarantine.

Counting: a record is a data line (TSV), a JSON line, or one damaged-stream entry (the
`corrupt_stream` entry of a gzip that breaks off counts as one record: it stands for the
line the damage cut). Header and comment lines are not records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
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
from assets.zeek.names import log_name
from assets.zeek.reader import read_zeek
from assets.zeek.records import LINE, Segment

_SEG = "__seg"  # index of the segment a row came from (to fetch its raw text)
_FOLDER = "__folder"
_DETAIL = "__detail"


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
    files: Iterable[RawFile], table: str, day: dt.date, lateness_days: int = 1
) -> ValidationResult:
    """Validate the records owned by partition `day` among `files` (folders day..day+L)."""
    if table not in ZEEK_FIELDS:
        raise ValueError(f"unknown table {table!r}; expected one of {sorted(ZEEK_FIELDS)}")
    last_folder = day + dt.timedelta(days=lateness_days)
    ordered = sorted(
        (f for f in files if day <= f.folder_day <= last_folder),
        key=lambda f: (f.folder_day, f.sensor, f.source_file),
    )
    fields, required = ZEEK_FIELDS[table], REQUIRED_FIELDS[table]
    lateness = dt.timedelta(days=lateness_days)

    rows: list[pl.DataFrame] = []
    segments: list[tuple[RawFile, Segment]] = []
    problems: list[pl.DataFrame] = []
    counts = {"raw_records": 0, "to_earlier_partitions": 0, "from_later_folders": 0}
    for raw_file in ordered:
        read = read_zeek(raw_file.load(), numeric=fields)
        own_folder = raw_file.folder_day == day
        if own_folder:
            counts["raw_records"] += read.records
            if read.problems.height:
                problems.append(
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
            converted = convert(seg, fields, required)
            kept, n_earlier = _owned_rows(converted, raw_file.folder_day, day, lateness)
            if own_folder:
                counts["to_earlier_partitions"] += n_earlier
            else:
                counts["from_later_folders"] += kept.height
            if kept.height == 0:
                continue
            rows.append(
                kept.with_columns(
                    pl.lit(raw_file.sensor).alias("sensor"),
                    pl.lit(len(segments), dtype=pl.Int32).alias(_SEG),
                    pl.lit(raw_file.folder_day).alias(_FOLDER),
                )
            )
            segments.append((raw_file, seg))

    schema = VALIDATED_SCHEMAS[table]
    records = (
        pl.concat(rows, how="vertical_relaxed")
        if rows
        else pl.DataFrame(
            schema=schema | {LINE: pl.Int64, REASON: pl.String, _SEG: pl.Int32, _FOLDER: pl.Date}
        )
    )
    records = _mark_duplicates(records, table)

    valid = records.filter(pl.col(REASON).is_null()) if _any_flagged(records) else records
    valid = valid.select([pl.col(c).cast(t) for c, t in schema.items()])
    if not valid["ts"].is_sorted():
        valid = valid.sort("ts", maintain_order=True)
    flagged = records.filter(pl.col(REASON).is_not_null())
    quarantine = pl.concat(
        [*problems, _quarantine_rows(flagged, segments, fields, required, lateness_days)],
        how="vertical_relaxed",
    ).select([pl.col(c).cast(t) for c, t in QUARANTINE_SCHEMA.items()])
    quarantine = quarantine.sort("source_file", "line_number", nulls_last=True, maintain_order=True)

    counts["valid"] = valid.height
    counts["quarantined"] = quarantine.height
    by_reason = dict(quarantine.group_by("reason").len().iter_rows())
    counts |= {f"quarantined_{r}": int(by_reason.get(r, 0)) for r in REASONS}
    return ValidationResult(valid=valid, quarantine=quarantine, counts=counts)


def _any_flagged(records: pl.DataFrame) -> bool:
    return records[REASON].null_count() < records.height


def _owned_rows(
    converted: pl.DataFrame, folder: dt.date, day: dt.date, lateness: dt.timedelta
) -> tuple[pl.DataFrame, int]:
    """Rows of one segment (of folder `folder`) that partition `day` owns, with late/future
    marked; and how many of the folder's rows belong to earlier partitions."""
    ts = pl.col("ts")
    # compare instants with day boundaries (cheaper than deriving a date per row)
    in_window = ts.is_between(_midnight(folder - lateness), _midnight(folder + _DAY), "left")
    on_day = ts.is_between(_midnight(day), _midnight(day + _DAY), "left")
    if folder == day:
        keep = ~in_window.fill_null(False) | on_day
        outside = ~in_window & pl.col(REASON).is_null()
        earlier = in_window & (ts < _midnight(day))
    else:
        keep = on_day.fill_null(False)
        outside = earlier = pl.lit(False)
    n_keep, n_earlier, n_outside = converted.select(
        keep.sum().alias("keep"),
        earlier.fill_null(False).sum().alias("earlier"),
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
    return kept, n_earlier


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


_DAY = dt.timedelta(days=1)


def _mark_duplicates(records: pl.DataFrame, table: str) -> pl.DataFrame:
    """Sound records whose key was seen before (folder, file, line order) become `duplicate`.

    Keys are compared by a 64-bit hash first (cheap on a million rows); only rows whose hash
    repeats are compared exactly, so a hash collision never drops a record.
    """
    if records.height == 0:
        return records
    keys = DEDUP_KEYS[table]
    key = pl.struct(["sensor", *keys])
    # one key column hashes much faster than a struct; sensors are few, compared exactly below
    hashed_key = pl.col(keys[0]).hash() if len(keys) == 1 else key.hash()
    if records[REASON].null_count() == records.height:
        hashed = records.select(hashed_key.alias("h"))["h"]
    else:
        hashed = records.select(pl.when(pl.col(REASON).is_null()).then(hashed_key).alias("h"))["h"]
    if hashed.null_count() == 0 and hashed.n_unique() == hashed.len():
        return records  # the common case, decided by one cheap pass over 64-bit hashes
    repeated = hashed.is_duplicated() & hashed.is_not_null()
    if not repeated.any():
        return records
    idx = pl.Series("i", range(records.height)).filter(repeated)
    subset = records[idx]
    dup_idx = idx.filter(~subset.select(key.is_first_distinct()).to_series())
    is_dup = pl.Series(repeated.len() * [False]).scatter(dup_idx, True)
    return records.with_columns(
        pl.when(is_dup).then(pl.lit("duplicate")).otherwise(pl.col(REASON)).alias(REASON)
    )


def _quarantine_rows(
    flagged: pl.DataFrame,
    segments: list[tuple[RawFile, Segment]],
    fields: dict[str, str],
    required: tuple[str, ...],
    lateness_days: int,
) -> pl.DataFrame:
    """Quarantine entries (with detail and raw line text) for records flagged after reading."""
    parts = [pl.DataFrame(schema=QUARANTINE_SCHEMA)]
    if flagged.height == 0:
        return parts[0]
    flagged = flagged.with_columns(_rule_detail(lateness_days).alias(_DETAIL))
    for seg_id, group in flagged.group_by(_SEG, maintain_order=True):
        raw_file, seg = segments[seg_id[0]]  # type: ignore[index]
        explained = explain(seg, group[LINE], fields, required)
        parts.append(
            group.join(explained, on=LINE, how="left").select(
                pl.col(REASON).alias("reason"),
                pl.coalesce(_DETAIL, "detail").alias("detail"),
                pl.lit(raw_file.source_file).alias("source_file"),
                pl.col(LINE).alias("line_number"),
                "raw",
                pl.lit(raw_file.sensor).alias("sensor"),
            )
        )
    return pl.concat(parts, how="vertical_relaxed")


def _rule_detail(lateness_days: int) -> pl.Expr:
    ts = pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
    folder = pl.col(_FOLDER).dt.strftime("%Y-%m-%d")
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
        .then(pl.format("ts {} is after its folder {}", ts, folder))
        .when(reason == "duplicate")
        .then(pl.format("uid {} already seen in this partition", pl.col("uid")))
        .otherwise(None)
    )
