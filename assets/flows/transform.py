"""Raw flow files -> one validated `flows` partition + its quarantine. Pure: no I/O.

The time rule is the Zeek tables' (docs/architecture.md), with a flow's `start` as its time:
partition D reads folders D..D+L; a record of folder F that its reader could decode, whose
start falls in F-L <= day(start) <= F, belongs to partition day(start), which runs every
other check on it; any other record of folder F is quarantined by partition F (undecodable,
no start, or `late` / `future`). Every row a reader gives is one raw record (a flow line or
decoded record, or one entry for a packet, data set or file that could not be read), so
`raw_records = valid - from_later_folders + quarantined + to_earlier_partitions` holds.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Iterable

import polars as pl

from assets.flows.readers import read_flow_file
from assets.flows.schema import (
    DEDUP_KEY,
    FLOWS_SCHEMA,
    MAX_DURATION_S,
    QUARANTINE_SCHEMA,
    REASONS,
    REQUIRED,
)
from assets.validated.transform import RawFile, ValidationResult

_DAY = dt.timedelta(days=1)
_IPV4 = r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"
_IPV6 = r"^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$"


def validate_flows(
    files: Iterable[RawFile], day: dt.date, lateness_days: int = 1
) -> ValidationResult:
    """Validate the flow records owned by partition `day` among `files` (folders day..day+L)."""
    last_folder = day + dt.timedelta(days=lateness_days)
    ordered = sorted(
        (f for f in files if day <= f.folder_day <= last_folder),
        key=lambda f: (f.folder_day, f.sensor, f.source_file),
    )
    counts = {"raw_records": 0, "to_earlier_partitions": 0, "from_later_folders": 0}
    # the Zeek tables' reconciliation terms that flows never have (no un-rotated files), so
    # every validated materialisation reconciles by the same formula
    counts |= {"from_earlier_folders": 0, "to_later_partitions": 0}
    formats: dict[str, int] = {}
    sound: list[pl.DataFrame] = []
    bad: list[pl.DataFrame] = [pl.DataFrame(schema=QUARANTINE_SCHEMA)]
    exporters = {e: i for i, e in enumerate(sorted({f.sensor for f in ordered}))}
    file_formats: list[str | None] = []
    for file_id, raw_file in enumerate(ordered):
        rows, fmt = read_flow_file(raw_file.load(), posixpath.basename(raw_file.source_file))
        file_formats.append(fmt)
        owner = _owner(raw_file.folder_day, lateness_days)
        rows = rows.with_row_index("__index").with_columns(owner.alias("__owner"))
        if raw_file.folder_day == day:
            counts["raw_records"] += rows.height
            formats[fmt] = formats.get(fmt, 0) + rows.height
            counts["to_earlier_partitions"] += rows.filter(pl.col("__owner") < day).height
        mine = rows.filter(pl.col("__owner") == day)
        if raw_file.folder_day != day:
            counts["from_later_folders"] += mine.height
        if mine.height:
            # judged file by file: only the flagged rows keep their raw text
            good, flagged = _judge(
                mine.with_columns(
                    pl.lit(raw_file.sensor).alias("exporter"),
                    pl.lit(raw_file.source_file).alias("source_file"),
                    pl.lit(raw_file.folder_day).alias("__folder"),
                    pl.lit(file_id, pl.UInt32).alias("__file"),
                    pl.lit(exporters[raw_file.sensor], pl.UInt32).alias("__exporter"),
                ),
                lateness_days,
            )
            sound.append(good)
            bad.append(flagged)
        del rows
    valid, duplicates = _deduplicated(sound, ordered, file_formats)
    quarantine = pl.concat([*bad, duplicates], how="vertical_relaxed").sort(
        "source_file", "line_number", nulls_last=True, maintain_order=True
    )
    counts["valid"] = valid.height
    counts["quarantined"] = quarantine.height
    by_reason = dict(quarantine.group_by("reason").len().iter_rows())
    counts |= {f"quarantined_{r}": int(by_reason.get(r, 0)) for r in REASONS}
    counts |= {f"format_{f}": n for f, n in sorted(formats.items())}
    return ValidationResult(valid=valid, quarantine=quarantine, counts=counts)


def _owner(folder: dt.date, lateness_days: int) -> pl.Expr:
    """The partition a row of folder `folder` belongs to (the time rule)."""
    start_day = pl.from_epoch(pl.col("start_us"), time_unit="us").dt.date()
    in_window = start_day.is_between(folder - dt.timedelta(days=lateness_days), folder)
    return (
        pl.when(pl.col("problem").is_null() & in_window.fill_null(False))
        .then(start_day)
        .otherwise(pl.lit(folder))
    )


def _judge(records: pl.DataFrame, lateness_days: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One file's owned rows -> (typed sound rows, quarantine entries of the flagged ones)."""
    start = pl.col("start_us")
    folder_us = pl.col("__folder").cast(pl.Datetime("us")).dt.epoch("us")
    day_us = 86_400_000_000
    missing = pl.concat_list(
        [pl.when(pl.col(c).is_null()).then(pl.lit(c)) for c in REQUIRED]
    ).list.drop_nulls()
    checks: list[tuple[str, pl.Expr, pl.Expr]] = [
        ("missing_field", missing.list.len() > 0, pl.format("{} absent", missing.list.join(", "))),
        (
            "late",
            start < folder_us - lateness_days * day_us,
            pl.format(
                "start {} is more than {} day(s) before its folder {}",
                _iso(start),
                pl.lit(lateness_days),
                pl.col("__folder"),
            ),
        ),
        (
            "future",
            start >= folder_us + day_us,
            pl.format("start {} is after its folder {}", _iso(start), pl.col("__folder")),
        ),
        ("bad_ip", ~_is_ip("src_addr"), pl.format("src_addr {} is not an IP address", "src_addr")),
        ("bad_ip", ~_is_ip("dst_addr"), pl.format("dst_addr {} is not an IP address", "dst_addr")),
        ("negative_count", pl.col("packets") < 0, pl.format("packets {} is negative", "packets")),
        ("negative_count", pl.col("bytes") < 0, pl.format("bytes {} is negative", "bytes")),
        *[
            (
                "type_error",
                ~pl.col(c).is_between(0, hi),
                pl.format(f"{c} {{}} is outside 0..{hi}", c),
            )
            for c, hi in (
                ("src_port", 65535),
                ("dst_port", 65535),
                ("protocol", 255),
                ("tcp_flags", 65535),
            )
        ],
        (
            "end_before_start",
            pl.col("end_us") < start,
            pl.format("end {} is before start {}", _iso(pl.col("end_us")), _iso(start)),
        ),
        (
            "impossible_duration",
            pl.col("end_us") - start > MAX_DURATION_S * 1_000_000,
            pl.format(
                "lasts {} s, more than " + str(MAX_DURATION_S),
                (pl.col("end_us") - start) // 1_000_000,
            ),
        ),
    ]
    # the first check that fires names the reason (flat coalesces: nesting each check in the
    # previous one's otherwise() would grow the expression exponentially)
    fired = [cond.fill_null(False) for _, cond, _ in checks]
    reason = pl.coalesce(
        pl.col("problem"),
        *[pl.when(f).then(pl.lit(n)) for f, (n, _, _) in zip(fired, checks, strict=True)],
    )
    detail = (
        pl.when(pl.col("problem").is_not_null())
        .then(pl.col("problem_detail"))
        .otherwise(
            pl.coalesce(*[pl.when(f).then(t) for f, (_, _, t) in zip(fired, checks, strict=True)])
        )
    )
    judged = records.with_columns(reason.alias("__reason"), detail.alias("__detail"))
    sound = judged.filter(pl.col("__reason").is_null())
    typed = sound.select(
        pl.from_epoch("start_us", time_unit="us").dt.replace_time_zone("UTC").alias("start"),
        pl.from_epoch("end_us", time_unit="us").dt.replace_time_zone("UTC").alias("end"),
        ((pl.col("end_us") - start) / 1e6).alias("duration"),
        *[
            pl.col(c).cast(FLOWS_SCHEMA[c])
            for c in ("src_addr", "dst_addr", "src_port", "dst_port", "protocol")
        ],
        *[
            pl.col(c).cast(FLOWS_SCHEMA[c])
            for c in ("packets", "bytes", "tcp_flags", "in_if", "out_if")
        ],
        *[pl.col(c).cast(FLOWS_SCHEMA[c]) for c in ("src_as", "dst_as", "sampling_rate")],
        pl.col("counts_scaled").fill_null(False),
        "exporter_address",
        # the file's own strings (exporter, format, name) are ids until the day is deduplicated:
        # at 10M flows they would be most of the day's memory
        "__exporter",
        "__file",
        "line_number",
        "__index",
    )
    flagged = judged.filter(pl.col("__reason").is_not_null()).select(
        pl.col("__reason").alias("reason"),
        pl.col("__detail").alias("detail"),
        "source_file",
        "line_number",
        "raw",
        "exporter",
    )
    return typed, flagged.select([pl.col(c).cast(t) for c, t in QUARANTINE_SCHEMA.items()])


def _deduplicated(
    sound: list[pl.DataFrame], files: list[RawFile], formats: list[str | None]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The day's valid rows (first of each flow, by start) and quarantine entries for the
    repeats, whose raw text is read again from their few files. ``sound`` rows name their
    file and exporter by index (``__file`` into ``files`` and ``formats``, ``__exporter``)."""
    if not sound:
        return pl.DataFrame(schema=FLOWS_SCHEMA), pl.DataFrame(schema=QUARANTINE_SCHEMA)
    typed = pl.concat(sound, how="vertical")
    sound.clear()
    key = ["__exporter" if c == "exporter" else c for c in DEDUP_KEY]
    dup = _repeats(typed, key)
    repeats = typed.filter(dup).select("__file", "line_number", "__index")
    # the first of each flow, by start (stable), gathered once: a filter then a sort would
    # copy the day twice
    order = (
        typed.select("start")
        .with_columns(__dup=dup)
        .select(
            pl.int_range(pl.len(), dtype=pl.UInt32)
            .filter(~pl.col("__dup"))
            .sort_by(pl.col("start").filter(~pl.col("__dup")), maintain_order=True)
        )
        .to_series()
    )
    columns = [c for c in FLOWS_SCHEMA if c in typed.columns]
    valid = typed.select(*columns, "__file")[order]
    del typed, dup, order
    ids = list(range(len(files)))
    valid = valid.with_columns(
        exporter=pl.col("__file").replace_strict(
            ids, [f.sensor for f in files], return_dtype=pl.String
        ),
        format=pl.col("__file").replace_strict(ids, formats, return_dtype=pl.String),
    )
    valid = valid.select(list(FLOWS_SCHEMA))
    quoted = [pl.DataFrame(schema=QUARANTINE_SCHEMA)]
    for (file_id,), group in repeats.group_by("__file", maintain_order=True):
        f = files[file_id]
        name = f.source_file
        rows = read_flow_file(f.load(), posixpath.basename(name))[0].with_row_index("__index")
        text = rows.select("__index", "raw")
        quoted.append(
            group.join(text, on="__index", how="left").select(
                pl.lit("duplicate").alias("reason"),
                pl.lit(
                    "the same flow (exporter, times, addresses, ports, protocol, counts) "
                    "came before in this partition"
                ).alias("detail"),
                pl.lit(name).alias("source_file"),
                "line_number",
                "raw",
                pl.lit(f.sensor).alias("exporter"),
            )
        )
    return valid, pl.concat(quoted, how="vertical_relaxed").select(
        [pl.col(c).cast(t) for c, t in QUARANTINE_SCHEMA.items()]
    )


def _repeats(typed: pl.DataFrame, key: list[str]) -> pl.Series:
    """True for each row whose ``key`` equals an earlier row's. Rows are first compared by a
    64-bit hash of the key (a day's full keys in one hash table cost gigabytes at 10M
    flows), then exactly among the few rows whose hash is shared."""
    shared = typed.select(pl.struct(key).hash(seed=0).is_duplicated()).to_series()
    dup = pl.repeat(False, typed.height, eager=True, dtype=pl.Boolean)
    candidates = shared.arg_true()
    if candidates.len():
        exact = typed[candidates].select(pl.struct(key).is_first_distinct().not_()).to_series()
        dup = dup.scatter(candidates.filter(exact), True)
    return dup


def _iso(e: pl.Expr) -> pl.Expr:
    return pl.from_epoch(e, time_unit="us").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")


def _is_ip(col: str) -> pl.Expr:
    c = pl.col(col)
    return c.str.contains(_IPV4) | (
        c.str.contains(_IPV6) & c.map_batches(_valid_v6, return_dtype=pl.Boolean)
    )


def _valid_v6(s: pl.Series) -> pl.Series:
    """Exact IPv6 check on the distinct candidates (few next to the rows)."""
    import ipaddress

    def ok(v: str | None) -> bool:
        try:
            ipaddress.IPv6Address(v)
            return True
        except (ValueError, TypeError):
            return False

    uniq = s.filter(s.str.contains(":", literal=True)).unique().drop_nulls()
    good = uniq.filter(pl.Series([ok(v) for v in uniq.to_list()], dtype=pl.Boolean))
    return s.is_in(good.implode())
