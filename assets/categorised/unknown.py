"""The day's most frequent unclassified registered domains (to grow the taxonomy)."""

from __future__ import annotations

import polars as pl

from assets.reference.loaders import UNKNOWN_SERVICE

UNKNOWN_DOMAINS_SCHEMA: dict[str, pl.DataType] = {
    "registered_domain": pl.String(),
    "sessions": pl.Int64(),
    "bytes": pl.Int64(),
    "clients": pl.Int64(),
    "example_hostname": pl.String(),
    "cert_org": pl.String(),
    "remote_org": pl.String(),
}


def unknown_domains(sessions: pl.DataFrame, top: int = 100) -> pl.DataFrame:
    """Registered domains of sessions with service ``Unknown``, most sessions first.

    ``clients`` counts distinct local addresses (originator for transit rows);
    ``example_hostname``, ``cert_org`` and ``remote_org`` are the domain's most frequent
    hostname, certificate organisation and AS organisation (the evidence to name it by).
    """
    unknown = sessions.filter(
        (pl.col("service") == UNKNOWN_SERVICE) & pl.col("registered_domain").is_not_null()
    )
    examples = (
        unknown.group_by("registered_domain", "hostname")
        .len()
        .sort(["len", "hostname"], descending=[True, False])
        .unique(subset="registered_domain", keep="first")
        .select("registered_domain", example_hostname="hostname")
    )
    return (
        unknown.group_by("registered_domain")
        .agg(
            sessions=pl.len(),
            bytes=pl.col("bytes_total").sum(),
            clients=pl.coalesce("local_ip", "orig_h").n_unique(),
        )
        .join(examples, on="registered_domain", how="left")
        .join(_top(unknown, "cert_org", "cert_org"), on="registered_domain", how="left")
        .join(_top(unknown, "remote_org", "remote_org"), on="registered_domain", how="left")
        .sort(["sessions", "bytes", "registered_domain"], descending=[True, True, False])
        .head(top)
        .select([pl.col(c).cast(t) for c, t in UNKNOWN_DOMAINS_SCHEMA.items()])
    )


UNKNOWN_REPORT_COLUMNS = (
    "registered_domain",
    "sessions",
    "bytes",
    "clients",
    "days",
    "example_hostname",
    "cert_org",
    "remote_org",
)


def _top(frame: pl.DataFrame, col: str, alias: str) -> pl.DataFrame:
    """registered_domain -> its most frequent non-null ``col`` (ties: alphabetical)."""
    return (
        frame.filter(pl.col(col).is_not_null())
        .group_by("registered_domain", col)
        .len()
        .sort(["len", col], descending=[True, False])
        .unique(subset="registered_domain", keep="first")
        .select("registered_domain", pl.col(col).alias(alias))
    )


def unknown_report(sessions: pl.DataFrame, top: int = 50, *, inbound: bool = False) -> pl.DataFrame:
    """A period's unnamed registered domains, most sessions first, with the evidence an
    analyst needs to add them: example hostname, certificate and AS organisations.

    "Unnamed" means service ``Unknown`` and category ``unknown`` (a category list's answer
    is already an answer). Inbound sessions are left out unless ``inbound``: their Host
    header or SNI names the monitored server, not a service its users reach.
    """
    unknown = sessions.filter(
        (pl.lit(inbound) | (pl.col("direction") != "inbound"))
        & (pl.col("service") == UNKNOWN_SERVICE)
        & (pl.col("category") == "unknown")
        & pl.col("registered_domain").is_not_null()
    )
    if "date" not in unknown.columns:
        unknown = unknown.with_columns(date=pl.col("ts").dt.date())
    if unknown.is_empty():
        return pl.DataFrame(schema=dict.fromkeys(UNKNOWN_REPORT_COLUMNS, pl.String)).cast(
            {"sessions": pl.UInt32, "bytes": pl.Int64, "clients": pl.UInt32, "days": pl.UInt32}
        )
    out = unknown.group_by("registered_domain").agg(
        sessions=pl.len(),
        bytes=pl.col("bytes_total").sum(),
        clients=pl.coalesce("local_ip", "orig_h").n_unique(),
        days=pl.col("date").n_unique(),
    )
    for col, alias in (("hostname", "example_hostname"), ("cert_org", "cert_org")):
        out = out.join(_top(unknown, col, alias), on="registered_domain", how="left")
    out = out.join(_top(unknown, "remote_org", "remote_org"), on="registered_domain", how="left")
    return (
        out.sort(["sessions", "bytes", "registered_domain"], descending=[True, True, False])
        .head(top)
        .select(UNKNOWN_REPORT_COLUMNS)
    )
