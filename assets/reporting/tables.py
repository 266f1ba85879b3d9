"""Daily reporting tables: one UTC day of categorised sessions -> small aggregates for BI.

Every table stores counts and sums (never only ratios), so a period's figures are recomputed
exactly by summing the daily rows; shares are stored too for BI convenience but are
derivable. Distinct counts (`clients`, `remotes`, ...) are exact for the day only and must not
be summed across days as distinct counts. Rows are fully sorted on their keys, so a day's
tables are byte-identical whether built alone or within a range. The Hive partition column
`date` (the UTC day of `ts`) is not stored in the frames.

Estimates: every row carries `estimated` (some of its sessions came from sampled flows, so
its counts are scaled up from 1-in-N packets) and `max_sampling_rate` (assets/reporting/
estimates.py).

Scope: transit sessions (no monitored side) only count in `daily_summary`; every other table
keys rows by `direction` (outbound, inbound, internal) so "users' own activity" (outbound) and
"others reaching the monitored networks" (inbound) stay apart.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from assets import memory
from assets.core.vocabulary import MONITORED_DIRECTIONS, UNKNOWN_CATEGORY
from assets.reporting.estimates import SAMPLING_COLUMNS, sampling_aggs, with_sampling
from assets.reporting.suspect import SUSPECT_SCHEMA, beaconing, suspect_activity

__all__ = ["MONITORED_DIRECTIONS", "REPORTING_TABLES", "UNKNOWN_CATEGORY", "build_reporting_tables"]

REPORTING_TABLES = (
    "activity_by_category",
    "top_services",
    "hourly_activity",
    "weekday_activity",
    "country_activity",
    "suspect_activity",
    "daily_summary",
)


_I64 = pl.Int64
_F64 = pl.Float64
_STR = pl.String

REPORTING_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "activity_by_category": {
        "direction": _STR,
        "category": _STR,
        "sessions": _I64,
        "bytes": _I64,
        "orig_bytes": _I64,
        "resp_bytes": _I64,
        "duration_s": _F64,
        "clients": _I64,
        "session_share": _F64,
        "byte_share": _F64,
        **SAMPLING_COLUMNS,
    },
    "top_services": {
        "direction": _STR,
        "category": _STR,
        "service": _STR,
        "sessions": _I64,
        "bytes": _I64,
        "clients": _I64,
        "rank_in_category": pl.Int32,
        "rank_overall": pl.Int32,
        **SAMPLING_COLUMNS,
    },
    "hourly_activity": {
        "direction": _STR,
        "local_hour": pl.Int8,
        "category": _STR,
        "sessions": _I64,
        "bytes": _I64,
        "clients": _I64,
        **SAMPLING_COLUMNS,
    },
    "weekday_activity": {
        "direction": _STR,
        "local_date": pl.Date,
        "local_weekday": pl.Int8,
        "category": _STR,
        "sessions": _I64,
        "bytes": _I64,
        "clients": _I64,
        **SAMPLING_COLUMNS,
    },
    "country_activity": {
        "direction": _STR,
        "remote_country": _STR,
        "sessions": _I64,
        "bytes": _I64,
        "clients": _I64,
        "remotes": _I64,
        "session_share": _F64,
        **SAMPLING_COLUMNS,
    },
    "suspect_activity": SUSPECT_SCHEMA,
    "daily_summary": {
        "sessions": _I64,
        "bytes": _I64,
        "outbound_sessions": _I64,
        "inbound_sessions": _I64,
        "internal_sessions": _I64,
        "transit_sessions": _I64,
        "outbound_bytes": _I64,
        "inbound_bytes": _I64,
        "unknown_sessions": _I64,
        "unknown_share": _F64,
        "attributed_sessions": _I64,
        "active_clients": _I64,
        "remote_countries": _I64,
        "services": _I64,
        "first_ts": pl.Datetime("us", "UTC"),
        "last_ts": pl.Datetime("us", "UTC"),
        **SAMPLING_COLUMNS,
    },
}


def _sum(col: str) -> pl.Expr:
    return pl.col(col).fill_null(0).sum().cast(_I64)


def _counts(*, clients: bool = True) -> list[pl.Expr]:
    exprs = [pl.len().cast(_I64).alias("sessions"), _sum("bytes_total").alias("bytes")]
    if clients:
        exprs.append(pl.col("local_ip").drop_nulls().n_unique().cast(_I64).alias("clients"))
    return exprs + sampling_aggs()


def _seconds_sum(col: str) -> pl.Expr:
    """Sum of a seconds column in whole microseconds (Zeek's resolution): an integer sum is
    exact in any order, so the streaming engine's partial sums, however its threads combine
    them, give the same bits every run (a float sum does not)."""
    micros = (pl.col(col).fill_null(0.0) * 1e6).round().cast(_I64)
    return (micros.sum() / 1e6).cast(_F64)


def _share(col: str, over: str | list[str]) -> pl.Expr:
    total = pl.col(col).sum().over(over)
    return pl.when(total > 0).then(pl.col(col) / total).otherwise(None).cast(_F64)


def _conform(df: pl.DataFrame, table: str) -> pl.DataFrame:
    schema = REPORTING_SCHEMAS[table]
    return df.select([pl.col(c).cast(t) for c, t in schema.items()])


def activity_by_category(monitored: pl.LazyFrame) -> pl.LazyFrame:
    """Sessions, bytes and active clients per direction and category.

    Columns: direction (outbound|inbound|internal), category, sessions (>=1), bytes (>=0),
    orig_bytes, resp_bytes (>=0; bytes = orig_bytes + resp_bytes), duration_s (sum of known
    durations in whole microseconds, >=0), clients (distinct local_ip, 0..sessions),
    session_share and byte_share (in [0, 1], share within the day's direction; sum to 1 per
    direction; byte_share null when the direction moved no bytes).
    Unique key: (direction, category).
    """
    return (
        monitored.group_by("direction", "category")
        .agg(
            *_counts(),
            _sum("orig_bytes").alias("orig_bytes"),
            _sum("resp_bytes").alias("resp_bytes"),
            _seconds_sum("duration").alias("duration_s"),
        )
        .with_columns(
            _share("sessions", "direction").alias("session_share"),
            _share("bytes", "direction").alias("byte_share"),
        )
        .sort(["direction", "sessions", "category"], descending=[False, True, False])
    )


def top_services(monitored: pl.LazyFrame) -> pl.LazyFrame:
    """Every service seen, ranked within its category and overall, per direction.

    Columns: direction, category, service (`Unknown` included), sessions, bytes, clients,
    rank_in_category and rank_overall (1-based, dense in 1..n with no ties: by sessions desc,
    bytes desc, service asc). Unique key: (direction, category, service); all services are
    kept (the taxonomy is small), so period rankings can be recomputed exactly.
    """

    def rank(*over: str) -> pl.Expr:
        return pl.int_range(1, pl.len() + 1).over(*over).cast(pl.Int32)

    return (
        monitored.group_by("direction", "category", "service")
        .agg(*_counts())
        .sort(
            ["direction", "sessions", "bytes", "service"],
            descending=[False, True, True, False],
        )
        # the frame is sorted, so a running index within each group is the rank
        .with_columns(
            rank("direction").alias("rank_overall"),
            rank("direction", "category").alias("rank_in_category"),
        )
    )


def hourly_activity(monitored: pl.LazyFrame) -> pl.LazyFrame:
    """Activity per local hour (the monitored network's IANA zone) and category.

    Columns: direction, local_hour (0..23), category, sessions, bytes, clients.
    Unique key: (direction, local_hour, category). One UTC day spans parts of two local days,
    so summing over a period gives the local-hour profile.
    """
    return (
        monitored.group_by("direction", "local_hour", "category")
        .agg(*_counts())
        .sort("direction", "local_hour", "category")
    )


def weekday_activity(monitored: pl.LazyFrame) -> pl.LazyFrame:
    """Activity per local date, ISO weekday (1 = Monday .. 7 = Sunday) and category.

    Columns: direction, local_date, local_weekday (1..7, the weekday of local_date), category,
    sessions, bytes, clients. Unique key: (direction, local_date, category). local_date is kept
    so period figures can average per local day of each weekday.
    """
    return (
        monitored.group_by("direction", "local_date", "local_weekday", "category")
        .agg(*_counts())
        .sort("direction", "local_date", "category")
    )


def country_activity(monitored: pl.LazyFrame) -> pl.LazyFrame:
    """Outbound destinations and inbound sources by remote country.

    Columns: direction (outbound|inbound), remote_country (ISO 3166 alpha-2; null = unknown or
    private), sessions, bytes, clients (distinct local_ip), remotes (distinct remote_ip),
    session_share (within the direction, unknown country included; sums to 1 per direction).
    Unique key: (direction, remote_country).
    """
    return (
        monitored.filter(pl.col("direction").is_in(["outbound", "inbound"]))
        .group_by("direction", "remote_country")
        .agg(*_counts(), pl.col("remote_ip").drop_nulls().n_unique().cast(_I64).alias("remotes"))
        .with_columns(_share("sessions", "direction").alias("session_share"))
        .sort(
            ["direction", "sessions", "remote_country"],
            descending=[False, True, False],
            nulls_last=True,
        )
    )


def daily_summary(sessions: pl.LazyFrame) -> pl.LazyFrame:
    """Exactly one row per day: totals, per-direction counts, unknown share, active clients.

    Columns: sessions (all, transit included), bytes, {outbound,inbound,internal,transit}_sessions
    (sum to sessions), outbound_bytes, inbound_bytes, unknown_sessions (outbound sessions of
    category `unknown`), unknown_share (unknown_sessions / outbound_sessions, null when no
    outbound), attributed_sessions (non-transit sessions with a hostname), active_clients
    (distinct local_ip), remote_countries (distinct known remote countries of non-transit
    sessions), services (distinct known services of non-transit sessions), first_ts, last_ts
    (null on an empty day).
    """
    d = pl.col("direction")
    monitored = d.is_in(MONITORED_DIRECTIONS)

    def count(cond: pl.Expr) -> pl.Expr:
        return cond.fill_null(False).sum().cast(_I64)

    def bytes_of(cond: pl.Expr) -> pl.Expr:
        return pl.when(cond).then(pl.col("bytes_total")).fill_null(0).sum().cast(_I64)

    def distinct(col: str, cond: pl.Expr, alias: str) -> pl.LazyFrame:
        # its own filtered scan: a plain distinct count streams, one inside a filter does not
        kept = sessions.filter(cond & pl.col(col).is_not_null())
        return kept.select(pl.col(col).n_unique().cast(_I64).alias(alias))

    out = d == "outbound"
    unknown = out & (pl.col("category") == UNKNOWN_CATEGORY)
    totals = sessions.select(
        pl.len().cast(_I64).alias("sessions"),
        _sum("bytes_total").alias("bytes"),
        *(count(d == x).alias(f"{x}_sessions") for x in MONITORED_DIRECTIONS),
        count(d.is_null() | ~monitored).alias("transit_sessions"),
        bytes_of(out).alias("outbound_bytes"),
        bytes_of(d == "inbound").alias("inbound_bytes"),
        count(unknown).alias("unknown_sessions"),
        count(out).alias("_outbound"),
        count(monitored & pl.col("hostname").is_not_null()).alias("attributed_sessions"),
        pl.col("ts").min().alias("first_ts"),
        pl.col("ts").max().alias("last_ts"),
        *sampling_aggs(),
    ).with_columns(
        unknown_share=pl.when(pl.col("_outbound") > 0).then(
            pl.col("unknown_sessions") / pl.col("_outbound")
        )
    )
    parts = [
        totals,
        distinct("local_ip", monitored, "active_clients"),
        distinct("remote_country", monitored, "remote_countries"),
        distinct("service", monitored & (pl.col("service") != "Unknown"), "services"),
    ]
    return pl.concat(parts, how="horizontal").drop("_outbound")


# Bytes a session takes while beaconing holds its pair's times (the one step that is not a
# streaming aggregate): the day's pairs are split into buckets that fit the memory budget.
BEACON_BYTES_PER_ROW = 160


def beacon_buckets(rows: int, budget: int | None = None) -> int:
    """Buckets of pairs for a day of `rows` sessions under the memory budget."""
    return max(1, -(-rows // memory.chunk_rows(BEACON_BYTES_PER_ROW, budget=budget)))


def build_reporting_tables(
    sessions: pl.DataFrame | pl.LazyFrame, *, day: dt.date, buckets: int | None = None
) -> dict[str, pl.DataFrame]:
    """One UTC day's categorised sessions -> every reporting table (no `date` column).

    Rows whose `ts` is not on `day` are ignored: by the time rule a partition only holds its own
    day, and filtering keeps each day's tables a pure function of that day's sessions.
    Aggregated by polars' streaming engine: pass a LazyFrame scan of the partition and the
    day is read in bounded pieces; beaconing runs in `buckets` of pairs (default: as many as
    the memory budget needs for the day's rows).
    """
    lf = with_sampling(sessions.lazy()).filter(pl.col("ts").dt.date() == day)
    monitored = lf.filter(pl.col("direction").is_in(MONITORED_DIRECTIONS))
    if buckets is None:  # (a Parquet scan's row count comes from its footer)
        buckets = beacon_buckets(sessions.lazy().select(pl.len()).collect().item())
    beacon_parts = [beaconing(lf, (b, buckets)).collect(engine="streaming") for b in range(buckets)]
    beacons = pl.concat(beacon_parts, how="vertical_relaxed").lazy()
    plans = {
        "activity_by_category": activity_by_category(monitored),
        "top_services": top_services(monitored),
        "hourly_activity": hourly_activity(monitored),
        "weekday_activity": weekday_activity(monitored),
        "country_activity": country_activity(monitored),
        "suspect_activity": suspect_activity(lf, beacons),
        "daily_summary": daily_summary(lf),
    }
    # the streaming engine reads the partition in morsels and keeps only the group states,
    # so a day's sessions are never held whole; one table at a time (collected together,
    # their buffers add up)
    frames = [plan.collect(engine="streaming") for plan in plans.values()]
    return {name: _conform(df, name) for name, df in zip(plans, frames, strict=True)}


def empty_table(name: str) -> pl.DataFrame:
    """A zero-row frame with the table's schema."""
    return pl.DataFrame(schema=REPORTING_SCHEMAS[name])
