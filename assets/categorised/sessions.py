"""validated conn/dns/ssl/http -> categorised sessions (one row per conn record)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from assets.categorised.classify import classify
from assets.categorised.direction import add_direction
from assets.categorised.evidence import add_asn, add_cert_from
from assets.categorised.hostnames import DNS_MAX_AGE_S, DNS_TTL_GRACE_S, attribute_from_lookups
from assets.categorised.lookups import DayLookups
from assets.categorised.stats import MATCH_SOURCES, SessionStats
from assets.categorised.unknown import unknown_domains
from assets.reference.geo import countries
from assets.reference.loaders import Reference

__all__ = [
    "INPUT_COLUMNS",
    "SESSIONS_SCHEMA",
    "CategorisedResult",
    "MATCH_SOURCES",
    "DayLookups",
    "SessionStats",
    "categorise",
    "categorise_chunk",
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
    midnight find their answers; ``conn`` rows alone decide the output rows. The same as
    `categorise_chunk` over the whole day as one chunk.
    """
    lookups = DayLookups.from_frames(dns, ssl, http)
    sessions = categorise_chunk(
        conn,
        lookups,
        reference=reference,
        dns_ttl_grace_s=dns_ttl_grace_s,
        dns_max_age_s=dns_max_age_s,
    )
    return CategorisedResult(sessions=sessions, stats=session_stats(sessions))


def categorise_chunk(
    conn: pl.DataFrame,
    lookups: DayLookups,
    *,
    reference: Reference,
    dns_ttl_grace_s: float = DNS_TTL_GRACE_S,
    dns_max_age_s: float = DNS_MAX_AGE_S,
) -> pl.DataFrame:
    """Categorise any run of a day's conn rows against the day's lookups: one output row per
    conn row, in conn order. Every column depends only on the row and the lookups, so the
    chunks of a day give exactly the rows of the whole day."""
    base = _conn_columns(conn)
    out = attribute_from_lookups(
        base,
        lookups.sni,
        lookups.http_host,
        lookups.answers_for(base.get_column("ts")),
        ttl_grace_s=dns_ttl_grace_s,
        max_age_s=dns_max_age_s,
    ).rename({"id_orig_h": "orig_h", "id_resp_h": "resp_h"})
    out = add_direction(out, reference.networks)
    # a flow exporter's own AS field for the remote side wins over the offline lookup
    known = pl.when(pl.col("remote_ip") == pl.col("resp_h")).then("resp_as").otherwise("orig_as")
    out = add_cert_from(out, lookups.certs).with_columns(_known_as=known)
    out = add_asn(out, reference, known="_known_as")

    names = lookups.names.lookup(out.get_column("hostname"))
    out = out.join(names, on="hostname", how="left", maintain_order="left").with_columns(
        _ascii=pl.col("ascii_hostname")
    )
    # did this client resolve this name through DNS? (Tor relay names never are)
    out = out.with_columns(lookups.resolved.contains(out, "orig_h", "_ascii"))
    out = classify(out, reference.taxonomy, reference.category_lists)
    out = out.with_columns(
        remote_country=countries(out, "remote_ip", reference.geo),
        hostname=pl.coalesce("ascii_hostname", "hostname"),
        bytes_total=pl.col("orig_bytes").fill_null(0) + pl.col("resp_bytes").fill_null(0),
        reference_version=pl.lit(reference.version or None, dtype=pl.String),
    )
    return out.sort("_row").select([pl.col(c).cast(t) for c, t in SESSIONS_SCHEMA.items()])


def session_stats(sessions: pl.DataFrame) -> dict:
    """Coverage metadata: shares of sessions and bytes with a hostname / a service."""
    acc = SessionStats()
    acc.add(sessions)
    return acc.result()
