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
}


def unknown_domains(sessions: pl.DataFrame, top: int = 100) -> pl.DataFrame:
    """Registered domains of sessions with service ``Unknown``, most sessions first.

    ``clients`` counts distinct local addresses (originator for transit rows);
    ``example_hostname`` is the domain's most frequent hostname.
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
        .sort(["sessions", "bytes", "registered_domain"], descending=[True, True, False])
        .head(top)
        .select([pl.col(c).cast(t) for c, t in UNKNOWN_DOMAINS_SCHEMA.items()])
    )
