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


def subject_fields(subject: pl.Expr) -> list[pl.Expr]:
    """cert_org (subject O) and cert_name (subject CN, lower case, ``*.`` dropped)."""
    return [
        _rdn(subject, "O").alias("cert_org"),
        _rdn(subject, "CN")
        .str.to_lowercase()
        .str.strip_chars_start("*.")
        .str.strip_chars_end(".")
        .alias("cert_name"),
    ]


def cert_subjects(ssl: pl.DataFrame) -> pl.DataFrame:
    """ssl rows with a certificate subject: ts, uid, subject (null when the log has none)."""
    if "subject" not in ssl.columns:
        return pl.DataFrame(
            schema={"ts": pl.Datetime("us", "UTC"), "uid": pl.String(), "subject": pl.String()}
        )
    frame = ssl.filter(pl.col("subject").is_not_null() & pl.col("uid").is_not_null())
    return frame.select("ts", "uid", "subject")


def cert_by_uid(ssl: pl.DataFrame) -> pl.DataFrame:
    """uid -> cert_org (subject O), cert_name (subject CN, lower case, ``*.`` dropped).

    Zeek logs the server certificate's subject in ssl.log's ``subject`` (older releases and
    many sensors' configurations); a sensor without it gives nulls. The first certificate of
    a uid (by ts, then row order) is taken.
    """
    frame = cert_subjects(ssl).sort("ts", maintain_order=True)
    frame = frame.unique(subset="uid", keep="first", maintain_order=True).select("uid", "subject")
    subjects = frame.select("subject").unique()
    # (the lookups keep subjects as categorical codes)
    subjects = subjects.with_columns(subject_fields(pl.col("subject").cast(pl.String)))
    return frame.join(subjects, on="subject", how="left").select("uid", *CERT_COLUMNS)


def add_cert_from(frame: pl.DataFrame, certs: pl.DataFrame) -> pl.DataFrame:
    """Add cert_org, cert_name from the day's `cert_by_uid` table."""
    certs = certs.join(frame.select("uid").unique(), on="uid", how="semi")
    return frame.join(certs, on="uid", how="left", maintain_order="left")


def add_cert(frame: pl.DataFrame, ssl: pl.DataFrame) -> pl.DataFrame:
    return frame.join(cert_by_uid(ssl), on="uid", how="left", maintain_order="left")


def add_asn(
    frame: pl.DataFrame,
    reference: Reference,
    ip_col: str = "remote_ip",
    known: str | None = None,
) -> pl.DataFrame:
    """Add remote_asn, remote_org of ``frame[ip_col]`` (null where unknown).

    ``known`` names a column of AS numbers the telemetry itself gave (a flow exporter's
    src/dst AS): where it is not null it is the number, and the organisation is the name
    the taxonomy gives that number, else the source's answer for the address when the
    source's number does not contradict it.
    """
    if reference.asn is None:
        got = pl.DataFrame(
            {c: pl.Series([None] * frame.height, dtype=t) for c, t in ASN_SCHEMA.items()}
        )
    else:
        got = lookup_asns(frame.get_column(ip_col), reference.asn, reference.taxonomy.asn_numbers)
    if known is None:
        return frame.with_columns(got.get_column("remote_asn"), got.get_column("remote_org"))
    orgs = {n: o for o, n in reference.taxonomy.asn_numbers.items()}
    exported = pl.col(known).cast(pl.UInt32)
    looked_up, looked_up_org = pl.col("_asn_lookup"), pl.col("_org_lookup")
    named = (
        exported.replace_strict(orgs, default=None, return_dtype=pl.String)
        if orgs
        else pl.lit(None, pl.String)
    )
    agrees = looked_up.is_null() | (looked_up == exported)
    out = frame.with_columns(
        _asn_lookup=got.get_column("remote_asn"), _org_lookup=got.get_column("remote_org")
    )
    return out.with_columns(
        remote_asn=pl.coalesce(exported, looked_up),
        remote_org=pl.when(exported.is_null())
        .then(looked_up_org)
        .when(named.is_not_null())
        .then(named)
        .when(agrees)
        .then(looked_up_org),
    ).drop(known, "_asn_lookup", "_org_lookup")
