"""The checks of one raw flow file's records: which partition owns each (the time rule) and
the first problem that quarantines it, with the sound rows typed. Pure: no I/O."""

from __future__ import annotations

import datetime as dt

import polars as pl

from assets.flows.schema import FLOWS_SCHEMA, MAX_DURATION_S, QUARANTINE_SCHEMA, REQUIRED

_IPV4 = r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"
_IPV6 = r"^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$"


def owner(folder: dt.date, lateness_days: int) -> pl.Expr:
    """The partition a row of folder `folder` belongs to (the time rule)."""
    start_day = pl.from_epoch(pl.col("start_us"), time_unit="us").dt.date()
    in_window = start_day.is_between(folder - dt.timedelta(days=lateness_days), folder)
    return (
        pl.when(pl.col("problem").is_null() & in_window.fill_null(False))
        .then(start_day)
        .otherwise(pl.lit(folder))
    )


def judge(records: pl.DataFrame, lateness_days: int) -> tuple[pl.DataFrame, pl.DataFrame]:
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
