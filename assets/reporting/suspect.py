"""Suspect activity of one day: obfuscation and crypto use, scanning/probing, beaconing.

All detections are vectorised polars plans over the day's categorised sessions. Thresholds are
module constants so analysts can read what "suspect" means.

Beaconing is looked for in both directions. Outbound, it is the classic implant calling home.
Inbound, it is a remote host polling a monitored server on a fixed period (a controller
checking in with a web shell, a periodic prober): on the real sensor archive
(tests/test_suspect_realdata.py) the planted HTTP beacon to the sensor is of this kind. A
beacon must also persist (BEACON_MIN_SPAN_S): on that sensor, SSH password-guessing bots make
30 logins one to three minutes apart, as regular as a beacon but over at most 1.5 hours.
"""

from __future__ import annotations

import polars as pl

from assets.core.vocabulary import MONITORED_DIRECTIONS
from assets.reporting.estimates import SAMPLING_COLUMNS, sampling_aggs

SUSPECT_KINDS = ("obfuscation", "crypto", "scanning", "beaconing")
# Taxonomy categories flagged whenever they are used.
FLAGGED_CATEGORIES = ("obfuscation", "crypto")

# Zeek conn states of attempts that never became a normal, completed exchange.
FAILED_STATES = ("S0", "REJ", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH")
SCAN_MIN_LOCAL_IPS = 10  # distinct monitored addresses touched by one remote source
SCAN_MIN_PORTS = 10  # or distinct ports probed
SCAN_MIN_FAILED_SHARE = 0.5  # "mostly failed"

BEACON_DIRECTIONS = ("outbound", "inbound")
BEACON_MIN_SESSIONS = 12  # connections of one (direction, local_ip, remote_ip, resp_p) a day
BEACON_MAX_CV = 0.2  # coefficient of variation of the inter-arrival gaps
BEACON_MIN_MEAN_GAP_S = 10.0  # faster than this is bulk/polling traffic, not a beacon
BEACON_MIN_SPAN_S = 3 * 3600.0  # first to last connection of the day: a channel, not a burst

SUSPECT_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String,
    "direction": pl.String,
    "local_ip": pl.String,
    "remote_ip": pl.String,
    "resp_p": pl.Int32,
    "service": pl.String,
    "category": pl.String,
    "remote_country": pl.String,
    "sessions": pl.Int64,
    "bytes": pl.Int64,
    "failed_sessions": pl.Int64,
    "local_ips": pl.Int64,
    "ports": pl.Int64,
    "remotes": pl.Int64,
    "first_ts": pl.Datetime("us", "UTC"),
    "last_ts": pl.Datetime("us", "UTC"),
    "gaps": pl.Int64,
    "gap_sum_s": pl.Float64,
    "gap_sumsq_s": pl.Float64,
    "gap_mean_s": pl.Float64,
    "gap_cv": pl.Float64,
    **SAMPLING_COLUMNS,
}
SUSPECT_KEY = ("kind", "direction", "local_ip", "remote_ip", "resp_p", "service", "remote_country")

_FAILED = pl.col("conn_state").is_in(FAILED_STATES).fill_null(False)


def _common() -> list[pl.Expr]:
    return [
        pl.len().cast(pl.Int64).alias("sessions"),
        pl.col("bytes_total").fill_null(0).sum().cast(pl.Int64).alias("bytes"),
        _FAILED.sum().cast(pl.Int64).alias("failed_sessions"),
        pl.col("local_ip").drop_nulls().n_unique().cast(pl.Int64).alias("local_ips"),
        pl.col("resp_p").drop_nulls().n_unique().cast(pl.Int64).alias("ports"),
        pl.col("remote_ip").drop_nulls().n_unique().cast(pl.Int64).alias("remotes"),
        pl.col("ts").min().alias("first_ts"),
        pl.col("ts").max().alias("last_ts"),
        *sampling_aggs(),
    ]


def flagged_category_use(sessions: pl.LazyFrame) -> pl.LazyFrame:
    """Use of obfuscation (VPN, Tor, proxies) and crypto services, per client and service.

    One row per (kind = category, direction, local_ip, service, remote_country); remote_ip and
    resp_p are null (a Tor or Bitcoin client talks to many peers: see `remotes`, `ports`).
    Failed inbound attempts are left out: a probe of a monitored address on a VPN or mining
    port is scanning, not use (on the real sensor archive every inbound VPN/proxy/Tor/mining
    session is a REJ or S0 probe). Failed outbound attempts stay: a blocked Tor client is
    still a Tor client.
    """
    d = pl.col("direction")
    return (
        sessions.filter(
            pl.col("category").is_in(FLAGGED_CATEGORIES)
            & d.is_in(list(MONITORED_DIRECTIONS))
            & ~((d == "inbound") & _FAILED)
        )
        .group_by(
            pl.col("category").alias("kind"),
            "direction",
            "local_ip",
            "service",
            "category",
            "remote_country",
        )
        .agg(*_common())
    )


def scanning(sessions: pl.LazyFrame) -> pl.LazyFrame:
    """Remote sources scanning or probing the monitored networks.

    Inbound sessions grouped by remote_ip; flagged when the source touched at least
    SCAN_MIN_LOCAL_IPS distinct local addresses or SCAN_MIN_PORTS distinct ports and at least
    SCAN_MIN_FAILED_SHARE of its attempts failed (FAILED_STATES). local_ip, resp_p, service
    and category are null.
    """
    return (
        sessions.filter(pl.col("direction") == "inbound")
        .group_by("remote_ip")
        .agg(*_common(), pl.col("remote_country").drop_nulls().min().alias("remote_country"))
        .filter(
            ((pl.col("local_ips") >= SCAN_MIN_LOCAL_IPS) | (pl.col("ports") >= SCAN_MIN_PORTS))
            & (pl.col("failed_sessions") >= SCAN_MIN_FAILED_SHARE * pl.col("sessions"))
        )
        .with_columns(pl.lit("scanning").alias("kind"), pl.lit("inbound").alias("direction"))
    )


def beaconing(sessions: pl.LazyFrame, bucket: tuple[int, int] = (0, 1)) -> pl.LazyFrame:
    """Periodic connections: a (direction, local_ip, remote_ip, resp_p) with at least
    BEACON_MIN_SESSIONS connections whose inter-arrival gaps are regular (population
    coefficient of variation <= BEACON_MAX_CV), not faster than BEACON_MIN_MEAN_GAP_S, and
    spread over at least BEACON_MIN_SPAN_S. direction is one of BEACON_DIRECTIONS: outbound
    (a monitored host calling out; resp_p is the remote's port) or inbound (a remote host
    calling a monitored server; resp_p is the server's port).

    Gap sums (`gaps`, `gap_sum_s`, `gap_sumsq_s`) are stored so a period's CV can be pooled
    exactly from the daily rows. service/category are the pair's most frequent ones.

    bucket (b, k): only the pairs whose hash is b modulo k. A pair's gaps need its sorted
    times, which no streaming aggregate gives: a big day is done in k buckets of pairs, each
    holding about 1/k of the day (the buckets' rows together are the day's exactly).
    """
    pair = ["direction", "local_ip", "remote_ip", "resp_p"]
    known = pl.all_horizontal(pl.col(c).is_not_null() for c in pair)
    out = sessions.filter(pl.col("direction").is_in(BEACON_DIRECTIONS) & known)
    b, k = bucket
    if k > 1:
        out = out.filter(pl.struct(pair).hash(seed=0) % k == b)
    # Most pairs have a handful of connections: drop them before the per-pair gap statistics
    # (a grouped count and a semi join, which stream; a window over the day would not)
    busy = (
        out.group_by(pair)
        .agg(pl.len().alias("_n"))
        .filter(pl.col("_n") >= BEACON_MIN_SESSIONS)
        .select(pair)
    )
    out = out.join(busy, on=pair, how="semi")
    gap = pl.col("ts").sort().diff().dt.total_microseconds() / 1e6
    stats = (
        out.group_by(pair)
        .agg(
            *_common(),
            pl.col("remote_country").drop_nulls().min().alias("remote_country"),
            gap.count().cast(pl.Int64).alias("gaps"),
            gap.sum().cast(pl.Float64).alias("gap_sum_s"),
            (gap * gap).sum().cast(pl.Float64).alias("gap_sumsq_s"),
        )
        .with_columns(gap_stats(pl.col("gaps"), pl.col("gap_sum_s"), pl.col("gap_sumsq_s")))
        .filter(
            (pl.col("sessions") >= BEACON_MIN_SESSIONS)
            & (pl.col("gap_mean_s") >= BEACON_MIN_MEAN_GAP_S)
            & (pl.col("gap_cv") <= BEACON_MAX_CV)
            & (pl.col("gap_sum_s") >= BEACON_MIN_SPAN_S)
        )
    )
    labels = (
        out.join(stats.select(pair), on=pair, how="semi", nulls_equal=False)
        .group_by(*pair, "service", "category")
        .agg(pl.len().alias("n"))
        .sort(
            [*pair, "n", "service", "category"],
            descending=[False] * len(pair) + [True, False, False],
        )
        .group_by(pair, maintain_order=True)
        .first()
        .drop("n")
    )
    return stats.join(labels, on=pair, how="left").with_columns(pl.lit("beaconing").alias("kind"))


def gap_stats(n: pl.Expr, total: pl.Expr, sumsq: pl.Expr) -> list[pl.Expr]:
    """Mean gap and population coefficient of variation from gap count, sum and sum of squares."""
    mean = total / n
    var = (sumsq / n - mean * mean).clip(lower_bound=0.0)
    return [
        pl.when(n > 0).then(mean).alias("gap_mean_s"),
        pl.when((n > 0) & (mean > 0)).then(var.sqrt() / mean).alias("gap_cv"),
    ]


def suspect_activity(sessions: pl.LazyFrame, beacons: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """All suspect findings of the day, in one long table (see SUSPECT_SCHEMA).

    Columns: kind (one of SUSPECT_KINDS), direction (scanning: inbound; beaconing: outbound or
    inbound; obfuscation/crypto: the sessions' own), local_ip (null for scanning), remote_ip
    (null for obfuscation/crypto), resp_p (beaconing only), service, category (null for
    scanning), remote_country, sessions (>=1), bytes, failed_sessions (<= sessions),
    local_ips, ports, remotes (distinct counts within the row), first_ts <= last_ts,
    gaps/gap_sum_s/gap_sumsq_s/gap_mean_s/gap_cv (beaconing only, else null).
    Unique key: SUSPECT_KEY. Sorted on the key.
    """
    beacons = beaconing(sessions) if beacons is None else beacons  # (computed in buckets)
    parts = [flagged_category_use(sessions), scanning(sessions), beacons]
    aligned = []
    for part in parts:
        have = set(part.collect_schema().names())
        aligned.append(
            part.select(
                pl.col(c).cast(t) if c in have else pl.lit(None, dtype=t).alias(c)
                for c, t in SUSPECT_SCHEMA.items()
            )
        )
    return pl.concat(aligned).sort(list(SUSPECT_KEY), nulls_last=True)
