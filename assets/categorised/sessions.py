"""validated conn/dns/ssl/http -> categorised sessions (one row per conn record)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from assets.categorised.classify import classify
from assets.categorised.direction import add_direction
from assets.categorised.domains import registered_domains
from assets.categorised.evidence import add_asn, add_cert
from assets.categorised.hostnames import (
    DNS_MAX_AGE_S,
    DNS_TTL_GRACE_S,
    HOSTNAME_SOURCES,
    attribute_hostnames,
    normalised_column,
)
from assets.categorised.unknown import unknown_domains
from assets.core.vocabulary import DIRECTIONS
from assets.reference.geo import countries
from assets.reference.loaders import UNKNOWN_SERVICE, Reference

__all__ = [
    "INPUT_COLUMNS",
    "SESSIONS_SCHEMA",
    "CategorisedResult",
    "categorise",
    "session_stats",
    "unknown_domains",
]

SESSIONS_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "uid": pl.String(),
    "sensor": pl.String(),
    "orig_h": pl.String(),
    "resp_h": pl.String(),
    "orig_p": pl.Int32(),
    "resp_p": pl.Int32(),
    "proto": pl.String(),
    "app_protocol": pl.String(),
    "duration": pl.Float64(),
    "orig_bytes": pl.Int64(),
    "resp_bytes": pl.Int64(),
    "bytes_total": pl.Int64(),
    "conn_state": pl.String(),
    "direction": pl.String(),
    "network": pl.String(),
    "local_ip": pl.String(),
    "remote_ip": pl.String(),
    "remote_country": pl.String(),
    "remote_asn": pl.UInt32(),
    "remote_org": pl.String(),
    "hostname": pl.String(),
    "hostname_source": pl.String(),
    "registered_domain": pl.String(),
    "cert_org": pl.String(),
    "cert_name": pl.String(),
    "service": pl.String(),
    "category": pl.String(),
    "match_source": pl.String(),
    "local_date": pl.Date(),
    "local_hour": pl.Int8(),
    "local_weekday": pl.Int8(),
    "reference_version": pl.String(),
    # where the session came from: a Zeek conn record, or the flow records of one connection
    "source": pl.String(),
    "flows": pl.Int64(),  # flow records merged into the session (null for Zeek)
    "sampling_rate": pl.Int64(),  # 1 in N packets (Zeek: 1; flows: null when unstated)
    "estimated": pl.Boolean(),  # counts are estimates scaled up from sampled packets
}

SOURCES = ("zeek", "flow")
# Session columns only flows fill, and what a Zeek conn record means for them.
SOURCE_DEFAULTS: dict[str, pl.Expr] = {
    "source": pl.lit("zeek"),
    "flows": pl.lit(None, pl.Int64),
    "sampling_rate": pl.lit(1, pl.Int64),
    "estimated": pl.lit(False),
    # the exporter's origin AS of each side (null: look the address up)
    "orig_as": pl.lit(None, pl.UInt32),
    "resp_as": pl.lit(None, pl.UInt32),
}

MATCH_SOURCES = ("domain", "category_list", "cert_org", "ip_prefix", "asn", "port", "none")

# The validated columns `categorise` reads, per table: the layer reads no others from the lake.
INPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "conn": (
        "ts",
        "uid",
        "sensor",
        "id_orig_h",
        "id_resp_h",
        "id_orig_p",
        "id_resp_p",
        "proto",
        "service",
        "duration",
        "orig_bytes",
        "resp_bytes",
        "conn_state",
    ),
    "dns": ("ts", "id_orig_h", "query", "answers", "ttls"),
    "ssl": ("ts", "uid", "sensor", "server_name", "subject"),
    "http": ("ts", "uid", "sensor", "host"),
}


@dataclass
class CategorisedResult:
    sessions: pl.DataFrame
    stats: dict = field(default_factory=dict)


def _conn_columns(conn: pl.DataFrame) -> pl.DataFrame:
    return conn.select(
        pl.col("ts").cast(pl.Datetime("us", "UTC")),
        pl.col("uid").cast(pl.String),
        (pl.col("sensor") if "sensor" in conn.columns else pl.lit(None))
        .cast(pl.String)
        .alias("sensor"),
        pl.col("id_orig_h").cast(pl.String),
        pl.col("id_resp_h").cast(pl.String),
        pl.col("id_orig_p").cast(pl.Int32).alias("orig_p"),
        pl.col("id_resp_p").cast(pl.Int32).alias("resp_p"),
        pl.col("proto").cast(pl.String).str.to_lowercase(),
        pl.col("service").cast(pl.String).alias("app_protocol"),
        pl.col("duration").cast(pl.Float64),
        pl.col("orig_bytes").cast(pl.Int64),
        pl.col("resp_bytes").cast(pl.Int64),
        pl.col("conn_state").cast(pl.String),
        *[
            (pl.col(c) if c in conn.columns else default).alias(c)
            for c, default in SOURCE_DEFAULTS.items()
        ],
    ).with_row_index("_row")


def categorise(
    conn: pl.DataFrame,
    dns: pl.DataFrame,
    ssl: pl.DataFrame,
    http: pl.DataFrame,
    *,
    reference: Reference,
    dns_ttl_grace_s: float = DNS_TTL_GRACE_S,
    dns_max_age_s: float = DNS_MAX_AGE_S,
) -> CategorisedResult:
    """Categorise one day's validated connections.

    ``dns`` may include earlier records (the previous day's), so connections just after
    midnight find their answers; ``conn`` rows alone decide the output rows.
    """
    base = _conn_columns(conn)
    out = attribute_hostnames(
        base, dns, ssl, http, ttl_grace_s=dns_ttl_grace_s, max_age_s=dns_max_age_s
    ).rename({"id_orig_h": "orig_h", "id_resp_h": "resp_h"})
    out = add_direction(out, reference.networks)
    # a flow exporter's own AS field for the remote side wins over the offline lookup
    known = pl.when(pl.col("remote_ip") == pl.col("resp_h")).then("resp_as").otherwise("orig_as")
    out = add_asn(add_cert(out, ssl).with_columns(_known_as=known), reference, known="_known_as")

    names = registered_domains(out.get_column("hostname"))
    out = out.join(names, on="hostname", how="left", maintain_order="left").with_columns(
        _ascii=pl.col("ascii_hostname")
    )
    # did this client resolve this name through DNS? (Tor relay names never are)
    resolved = dns.select(orig_h=pl.col("id_orig_h"), query=pl.col("query")).unique()
    resolved = (
        normalised_column(resolved, "query", "_ascii")
        .select("orig_h", "_ascii")
        .drop_nulls()
        .unique()
        .with_columns(_resolved=pl.lit(True))
    )
    out = out.join(resolved, on=["orig_h", "_ascii"], how="left", maintain_order="left")
    out = out.with_columns(pl.col("_resolved").fill_null(False))
    out = classify(out, reference.taxonomy, reference.category_lists)
    out = out.with_columns(
        remote_country=countries(out, "remote_ip", reference.geo),
        hostname=pl.coalesce("ascii_hostname", "hostname"),
        bytes_total=pl.col("orig_bytes").fill_null(0) + pl.col("resp_bytes").fill_null(0),
        reference_version=pl.lit(reference.version or None, dtype=pl.String),
    )
    sessions = out.sort("_row").select([pl.col(c).cast(t) for c, t in SESSIONS_SCHEMA.items()])
    return CategorisedResult(sessions=sessions, stats=session_stats(sessions))


def session_stats(sessions: pl.DataFrame) -> dict:
    """Coverage metadata: shares of sessions and bytes with a hostname / a service."""
    n = sessions.height
    total_bytes = int(sessions.get_column("bytes_total").sum() or 0)

    def share(mask: pl.Expr) -> tuple[float, float]:
        s = sessions.select(
            c=mask.sum(), b=pl.when(mask).then(pl.col("bytes_total")).otherwise(0).sum()
        ).row(0)
        return (s[0] / n if n else 0.0, s[1] / total_bytes if total_bytes else 0.0)

    with_host = share(pl.col("hostname").is_not_null())
    with_service = share(pl.col("service") != UNKNOWN_SERVICE)
    stats: dict = {
        "sessions": n,
        "bytes": total_bytes,
        "share_sessions_with_hostname": round(with_host[0], 6),
        "share_bytes_with_hostname": round(with_host[1], 6),
        "share_sessions_with_service": round(with_service[0], 6),
        "share_bytes_with_service": round(with_service[1], 6),
    }
    for src in HOSTNAME_SOURCES:
        s = share(pl.col("hostname_source") == src)
        stats[f"share_sessions_hostname_{src}"] = round(s[0], 6)
        stats[f"share_bytes_hostname_{src}"] = round(s[1], 6)
    stats["sessions_by_hostname_source"] = _counts(sessions, "hostname_source", HOSTNAME_SOURCES)
    stats["sessions_by_match_source"] = _counts(sessions, "match_source", MATCH_SOURCES)
    stats["sessions_by_direction"] = _counts(sessions, "direction", DIRECTIONS)
    stats["distinct_hostnames"] = sessions.get_column("hostname").n_unique()
    stats["unknown_registered_domains"] = (
        sessions.filter(pl.col("service") == UNKNOWN_SERVICE)
        .get_column("registered_domain")
        .drop_nulls()
        .n_unique()
    )
    return stats


def _counts(frame: pl.DataFrame, col: str, keys: tuple[str, ...]) -> dict[str, int]:
    got = dict(frame.group_by(col).len().iter_rows())
    return {k: int(got.get(k, 0)) for k in keys}
