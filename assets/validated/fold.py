"""The fold of converted segments into one partition: which rows a partition owns (time
rule), the key hashes that find duplicates within the day, and the quarantine rows with
their raw text."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import polars as pl

from assets.validated.raw_file import _FILE, RawFile
from assets.validated.schemas import (
    QUARANTINE_SCHEMA,
)
from assets.validated.segments import file_pieces, piece_bytes
from assets.zeek.convert import REASON, explain
from assets.zeek.names import is_rotated
from assets.zeek.records import LINE, Segment


@dataclass(frozen=True)
class Part:
    """Where a run of consecutive sound rows came from (to quote them if found duplicate)."""

    raw_file: RawFile
    file_no: int
    height: int


def owned_rows(
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


def key_hashes(records: pl.DataFrame, keys: list[str]) -> pl.Series:
    """A 64-bit hash of each row's dedup key (equal keys give equal hashes). Per-column
    hashes combined with wrapping arithmetic; sensors are few and compared exactly later."""
    hashed = records.get_column(keys[0]).hash()
    for k in keys[1:]:
        hashed = hashed * _HASH_MIX + records.get_column(k).hash()
    return hashed


_HASH_MIX = 0x100000001B3  # an odd multiplier (FNV-1a's 64-bit prime)


def duplicate_rows(
    duplicates: pl.DataFrame, position: str, parts: list[Part], fields: dict[str, str]
) -> pl.DataFrame:
    """Quarantine entries of the duplicates (`uid`, LINE and their place among the day's
    sound rows in column `position`); their files are read again for the raw text."""
    where = duplicates.get_column(position).cast(pl.Int64)
    starts = pl.Series([0, *itertools.accumulate(p.height for p in parts)][:-1], dtype=pl.Int64)
    part = starts.search_sorted(where, side="right") - 1
    dups = duplicates.select("uid", LINE).with_columns(
        pl.Series(_FILE, [p.file_no for p in parts])[part],
    )
    files = {p.file_no: p.raw_file for p in parts}
    out = [pl.DataFrame(schema=QUARANTINE_SCHEMA)]
    for (file_no,), in_file in dups.group_by(_FILE, maintain_order=True):
        raw_file = files[file_no]  # type: ignore[index]
        # read again a piece at a time, as it was first read; line numbers are the file's own
        wanted = in_file.get_column(LINE).implode()
        for read in file_pieces(raw_file, fields, piece_bytes()):
            for seg in read.segments:
                lines = seg.frame.filter(pl.col(LINE).is_in(wanted))
                if lines.height:
                    out.append(_duplicate_entries(in_file, seg, lines, raw_file))
    return pl.concat(out, how="vertical_relaxed")


def _duplicate_entries(
    in_file: pl.DataFrame, seg: Segment, lines: pl.DataFrame, raw_file: RawFile
) -> pl.DataFrame:
    text = pl.DataFrame({LINE: lines[LINE], "raw": seg.raw_text(lines)})
    return in_file.join(text, on=LINE, how="inner").select(
        pl.lit("duplicate").alias("reason"),
        pl.format("uid {} already seen in this partition", "uid").alias("detail"),
        pl.lit(raw_file.source_file).alias("source_file"),
        pl.col(LINE).alias("line_number"),
        "raw",
        pl.lit(raw_file.sensor).alias("sensor"),
    )


def quarantine_rows(
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
