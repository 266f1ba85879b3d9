"""Hostname attribution: TLS SNI > HTTP Host (both by sensor and uid) > passive DNS > none.

Passive DNS: the most recent DNS answer the same client (id_orig_h) received for the
connection's responder address, at or before the connection start, still within the
answer's TTL (plus a small grace, because clients and resolvers keep answers a little past
expiry) and never older than a recency cap. Everything is joins and expressions.
"""

from __future__ import annotations

import polars as pl

from assets.categorised.uid_lookup import KEY, UidLookup, key_hashes
from assets.core.addresses import is_ip_literal

DNS_TTL_GRACE_S = 60.0
DNS_MAX_AGE_S = 6 * 3600.0

SOURCE_SNI = "sni"
SOURCE_HTTP = "http_host"
SOURCE_DNS = "dns"
SOURCE_NONE = "none"


def normalise_hostname(expr: pl.Expr, *, strip_port: bool = False) -> pl.Expr:
    """Lower case, no surrounding space or trailing dots; IP literals and empties -> null."""
    s = expr.str.strip_chars().str.to_lowercase()
    if strip_port:
        s = s.str.replace(r":\d*$", "")  # Host headers carry ":port"
    s = s.str.strip_chars_end(".")
    name = (s.str.len_chars() > 0) & ~s.str.starts_with("[") & ~s.str.contains(r"[\s/]")
    return pl.when(name & ~is_ip_literal(s)).then(s)


def normalised_column(frame: pl.DataFrame, col: str, out: str, *, strip_port: bool = False):
    """Add ``out`` = normalise_hostname(``col``), computed once per distinct value."""
    names = frame.select(pl.col(col)).unique().drop_nulls()
    names = names.with_columns(normalise_hostname(pl.col(col), strip_port=strip_port).alias(out))
    return frame.join(names, on=col, how="left", maintain_order="left")


# A connection is (sensor, uid) (`KEY`): Zeek makes uids unique within one deployment only.


def _keyed(frame: pl.DataFrame, *cols: str) -> pl.DataFrame:
    sensor = pl.col("sensor") if "sensor" in frame.columns else pl.lit(None)
    return frame.select(sensor.cast(pl.String).alias("sensor"), "uid", *cols)


def _first_per_uid(rows: pl.DataFrame, col: str) -> pl.DataFrame:
    # stable sort: among equal ts the earlier row wins, however the rows were chunked.
    # Validated tables are stored in ts order: then the sort (a copy of the day) is skipped.
    if not rows.get_column("ts").is_sorted():
        rows = rows.sort("ts", maintain_order=True)
    return rows.select(*KEY, col).unique(subset=KEY, keep="first", maintain_order=True)


def sni_rows(ssl: pl.DataFrame) -> pl.DataFrame:
    """ssl rows with a usable TLS server name: ts, sensor, uid, sni (normalised)."""
    frame = normalised_column(_keyed(ssl, "ts", "server_name"), "server_name", "sni")
    return frame.filter(pl.col("sni").is_not_null() & pl.col("uid").is_not_null()).select(
        "ts", *KEY, "sni"
    )


def http_host_rows(http: pl.DataFrame) -> pl.DataFrame:
    """http rows with a usable Host header: ts, sensor, uid, http_host (normalised, no port)."""
    frame = normalised_column(_keyed(http, "ts", "host"), "host", "http_host", strip_port=True)
    return frame.filter(pl.col("http_host").is_not_null() & pl.col("uid").is_not_null()).select(
        "ts", *KEY, "http_host"
    )


def sni_by_uid(ssl: pl.DataFrame) -> pl.DataFrame:
    """(sensor, uid) -> first non-empty TLS server name of that connection."""
    return _first_per_uid(sni_rows(ssl), "sni")


def http_host_by_uid(http: pl.DataFrame) -> pl.DataFrame:
    """(sensor, uid) -> Host header of the first request on that connection that had one."""
    return _first_per_uid(http_host_rows(http), "http_host")


def dns_answer_rows(dns: pl.DataFrame) -> pl.DataFrame:
    """One row per answered address: client, ip, dns_ts, dns_name, ttl (seconds), in the
    order of ``dns`` (`dns_answers` sorts them)."""
    d = dns.select("ts", "id_orig_h", "query", "answers", "ttls").filter(
        pl.col("answers").list.len() > 0
    )
    d = normalised_column(d, "query", "dns_name").filter(pl.col("dns_name").is_not_null())
    return (
        d.with_columns(_i=pl.int_ranges(0, pl.col("answers").list.len()))
        .explode("answers", "_i")
        .select(
            client=pl.col("id_orig_h"),
            ip=pl.col("answers").str.to_lowercase(),
            dns_ts=pl.col("ts"),
            dns_name=pl.col("dns_name"),
            ttl=pl.col("ttls").list.get(pl.col("_i"), null_on_oob=True),
        )
        # CNAME/MX/TXT answers can never equal a connection address; a cheap character
        # test drops most of them before the join
        .filter(pl.col("ip").str.contains(r"^[0-9a-f:.]+$"))
    )


def dns_answers(dns: pl.DataFrame) -> pl.DataFrame:
    """One row per answered address: client, ip, dns_ts, dns_name, ttl (seconds), by time."""
    return dns_answer_rows(dns).sort("dns_ts", "dns_name", maintain_order=True)


def passive_dns(
    conns: pl.DataFrame,
    dns: pl.DataFrame,
    *,
    ttl_grace_s: float = DNS_TTL_GRACE_S,
    max_age_s: float = DNS_MAX_AGE_S,
) -> pl.DataFrame:
    """``conns`` (_row, ts, id_orig_h, id_resp_h) -> _row, dns_name (null: no valid answer)."""
    return passive_dns_from_answers(
        conns, dns_answers(dns), ttl_grace_s=ttl_grace_s, max_age_s=max_age_s
    )


PAIR_KEY = ["_pair", "_pair2"]
_PAIR_SEEDS = (0x646E7331, 0x646E7332)


def pair_hashes(client: pl.Expr, ip: pl.Expr) -> list[pl.Expr]:
    """(client, address) as two independently seeded 64-bit hashes: a wrong match needs both
    to collide (about 1e-26 for a day's pairs)."""
    pair = pl.struct(client.cast(pl.String), ip.cast(pl.String))
    return [pair.hash(seed).alias(name) for seed, name in zip(_PAIR_SEEDS, PAIR_KEY, strict=True)]


def passive_dns_from_answers(
    conns: pl.DataFrame,
    answers: pl.DataFrame,
    *,
    ttl_grace_s: float = DNS_TTL_GRACE_S,
    max_age_s: float = DNS_MAX_AGE_S,
) -> pl.DataFrame:
    """As `passive_dns`, against the day's answers (`dns_answers`, sorted by time): each
    connection is looked up on its own, so any subset of the day's connections gets the
    answers the whole day would."""
    left = conns.select("_row", "ts", client="id_orig_h", ip="id_resp_h").sort("ts")
    if answers.height == 0 or left.height == 0:
        return left.select("_row", dns_name=pl.lit(None, dtype=pl.String))
    if "_pair" in answers.columns:  # the day's compact lookups: pairs as hashes
        left = left.with_columns(pair_hashes(pl.col("client"), pl.col("ip")))
        by = PAIR_KEY
        # only the answers to these connections' pairs (same rows out: the asof is by pair)
        answers = answers.filter(pl.col("_pair").is_in(left.get_column("_pair").implode()))
    else:
        by = ["client", "ip"]
        pairs = left.select(by).unique()
        answers = answers.join(pairs, on=by, how="semi", maintain_order="left")
    hit = left.join_asof(
        answers.select(*by, "dns_ts", "dns_name", "ttl"),
        left_on="ts",
        right_on="dns_ts",
        by=by,
        strategy="backward",
        check_sortedness=False,  # both sides sorted by time
    )
    age = (pl.col("ts") - pl.col("dns_ts")).dt.total_microseconds() / 1e6
    limit = pl.min_horizontal(pl.col("ttl").fill_null(max_age_s) + ttl_grace_s, pl.lit(max_age_s))
    name = pl.col("dns_name").cast(pl.String)
    return hit.select("_row", dns_name=pl.when(age <= limit).then(name))


def attribute_hostnames(
    conn: pl.DataFrame,
    dns: pl.DataFrame,
    ssl: pl.DataFrame,
    http: pl.DataFrame,
    *,
    ttl_grace_s: float = DNS_TTL_GRACE_S,
    max_age_s: float = DNS_MAX_AGE_S,
) -> pl.DataFrame:
    """conn (with a ``_row`` index) + hostname, hostname_source, in DESIGN.md's precedence."""
    return attribute_from_lookups(
        conn,
        sni_by_uid(ssl),
        http_host_by_uid(http),
        dns_answers(dns),
        ttl_grace_s=ttl_grace_s,
        max_age_s=max_age_s,
    )


def attribute_from_lookups(
    conn: pl.DataFrame,
    sni: pl.DataFrame | UidLookup,
    http_host: pl.DataFrame | UidLookup,
    answers: pl.DataFrame,
    *,
    ttl_grace_s: float = DNS_TTL_GRACE_S,
    max_age_s: float = DNS_MAX_AGE_S,
) -> pl.DataFrame:
    """As `attribute_hostnames`, from the day's lookups (`sni_by_uid`, `http_host_by_uid`, or
    their `UidLookup`s, and `dns_answers`, or the part of them covering conn's times)."""
    out = key_hashes(conn)
    for lookup, col in ((sni, "sni"), (http_host, "http_host")):
        if isinstance(lookup, pl.DataFrame):
            lookup = UidLookup(key_hashes(lookup).select("_k1", "_k2", col))
        out = lookup.join(out).with_columns(pl.col(col).cast(pl.String))
    out = out.drop("_k1", "_k2")
    need_dns = out.filter(pl.col("sni").is_null() & pl.col("http_host").is_null())
    pdns = passive_dns_from_answers(
        need_dns.select("_row", "ts", "id_orig_h", "id_resp_h"),
        answers,
        ttl_grace_s=ttl_grace_s,
        max_age_s=max_age_s,
    )
    out = out.join(pdns, on="_row", how="left", maintain_order="left")
    return out.with_columns(
        hostname=pl.coalesce("sni", "http_host", "dns_name"),
        hostname_source=pl.when(pl.col("sni").is_not_null())
        .then(pl.lit(SOURCE_SNI))
        .when(pl.col("http_host").is_not_null())
        .then(pl.lit(SOURCE_HTTP))
        .when(pl.col("dns_name").is_not_null())
        .then(pl.lit(SOURCE_DNS))
        .otherwise(pl.lit(SOURCE_NONE)),
    ).drop("sni", "http_host", "dns_name")


HOSTNAME_SOURCES = (SOURCE_SNI, SOURCE_HTTP, SOURCE_DNS, SOURCE_NONE)
