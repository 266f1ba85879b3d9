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


# The grain unknown_domains is computed from: merging these partial groups of several chunks
# (sums of their sums) gives the groups of the whole day.
_PARTIAL_KEY = ("registered_domain", "hostname", "cert_org", "remote_org", "_client")


def unknown_partials(sessions: pl.DataFrame) -> pl.DataFrame:
    """The sessions with service ``Unknown`` reduced to counts per registered domain, hostname,
    certificate and AS organisation and client: what `unknown_from_partials` needs."""
    unknown = sessions.filter(
        (pl.col("service") == UNKNOWN_SERVICE) & pl.col("registered_domain").is_not_null()
    )
    return (
        unknown.with_columns(_client=pl.coalesce("local_ip", "orig_h"))
        .group_by(_PARTIAL_KEY)
        .agg(_n=pl.len().cast(pl.Int64), _bytes=pl.col("bytes_total").fill_null(0).sum())
    )


def merge_partials(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Several chunks' `unknown_partials` as one (exact: counts and sums add up)."""
    return (
        pl.concat(frames, how="vertical_relaxed")
        .group_by(_PARTIAL_KEY)
        .agg(pl.col("_n").sum(), pl.col("_bytes").sum())
    )


def unknown_domains(sessions: pl.DataFrame, top: int = 100) -> pl.DataFrame:
    """Registered domains of sessions with service ``Unknown``, most sessions first.

    ``clients`` counts distinct local addresses (originator for transit rows);
    ``example_hostname``, ``cert_org`` and ``remote_org`` are the domain's most frequent
    hostname, certificate organisation and AS organisation (the evidence to name it by).
    """
    return unknown_from_partials(unknown_partials(sessions), top)


def unknown_from_partials(partials: pl.DataFrame, top: int = 100) -> pl.DataFrame:
    """`unknown_domains` from the (merged) partial counts of a day's sessions."""
    by_domain = partials.group_by("registered_domain").agg(
        sessions=pl.col("_n").sum(),
        bytes=pl.col("_bytes").sum(),
        clients=pl.col("_client").n_unique(),
    )
    return (
        by_domain.join(
            _top_n(partials, "hostname", "example_hostname"), on="registered_domain", how="left"
        )
        .join(_top_n(partials, "cert_org", "cert_org"), on="registered_domain", how="left")
        .join(_top_n(partials, "remote_org", "remote_org"), on="registered_domain", how="left")
        .sort(["sessions", "bytes", "registered_domain"], descending=[True, True, False])
        .head(top)
        .select([pl.col(c).cast(t) for c, t in UNKNOWN_DOMAINS_SCHEMA.items()])
    )


def _top_n(partials: pl.DataFrame, col: str, alias: str) -> pl.DataFrame:
    """registered_domain -> its most frequent non-null ``col`` by summed counts (ties:
    alphabetical)."""
    return (
        partials.filter(pl.col(col).is_not_null())
        .group_by("registered_domain", col)
        .agg(pl.col("_n").sum())
        .sort(["_n", col], descending=[True, False])
        .unique(subset="registered_domain", keep="first")
        .select("registered_domain", pl.col(col).alias(alias))
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
