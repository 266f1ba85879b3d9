"""Evidence beside the hostname: the TLS certificate's subject, the remote AS.

Each is its own sessions column (``cert_org``, ``cert_name``, ``remote_asn``,
``remote_org``) so a reader sees what a session's service could have come from.
"""

from __future__ import annotations

import polars as pl

from assets.reference.asn import ASN_SCHEMA, lookup_asns
from assets.reference.loaders import Reference

CERT_COLUMNS = {"cert_org": pl.String(), "cert_name": pl.String()}


def _rdn(subject: pl.Expr, key: str) -> pl.Expr:
    """One attribute of a Zeek subject text (``CN=x,O=Acme\\, Inc.,C=US``), unescaped."""
    value = subject.str.extract(rf"(?:^|,)\s*{key}=((?:\\.|[^,\\])*)", 1)
    value = value.str.replace_all(r"\\(.)", "$1").str.strip_chars()
    return pl.when(value.str.len_chars() > 0).then(value)


def cert_by_uid(ssl: pl.DataFrame) -> pl.DataFrame:
    """uid -> cert_org (subject O), cert_name (subject CN, lower case, ``*.`` dropped).

    Zeek logs the server certificate's subject in ssl.log's ``subject`` (older releases and
    many sensors' configurations); a sensor without it gives nulls.
    """
    if "subject" not in ssl.columns:
        return pl.DataFrame(schema={"uid": pl.String(), **CERT_COLUMNS})
    frame = ssl.filter(pl.col("subject").is_not_null() & pl.col("uid").is_not_null())
    frame = frame.sort("ts").unique(subset="uid", keep="first").select("uid", "subject")
    subjects = frame.select("subject").unique()
    subjects = subjects.with_columns(
        cert_org=_rdn(pl.col("subject"), "O"),
        cert_name=_rdn(pl.col("subject"), "CN")
        .str.to_lowercase()
        .str.strip_chars_start("*.")
        .str.strip_chars_end("."),
    )
    return frame.join(subjects, on="subject", how="left").select("uid", *CERT_COLUMNS)


def add_cert(frame: pl.DataFrame, ssl: pl.DataFrame) -> pl.DataFrame:
    return frame.join(cert_by_uid(ssl), on="uid", how="left", maintain_order="left")


def add_asn(frame: pl.DataFrame, reference: Reference, ip_col: str = "remote_ip") -> pl.DataFrame:
    """Add remote_asn, remote_org of ``frame[ip_col]`` (null where unknown)."""
    if reference.asn is None:
        return frame.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in ASN_SCHEMA.items()])
    got = lookup_asns(frame.get_column(ip_col), reference.asn, reference.taxonomy.asn_numbers)
    return frame.with_columns(got.get_column("remote_asn"), got.get_column("remote_org"))
