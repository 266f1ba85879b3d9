"""IP address text -> integer, as polars expressions (IPv4 and IPv6 in one UInt128 key space).

IPv4 addresses map to 0 .. 2**32-1 and IPv6 addresses to their 128-bit value, the layout
geoip2fast uses; IPv6 addresses below 2**32 (``::``, ``::1``, IPv4-compatible) are
reported as null so they never collide with an IPv4 range.
"""

from __future__ import annotations

import ipaddress

import polars as pl

V4_MAX = 2**32 - 1
_V4_RE = r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$"
_V6_RE = r"^[0-9a-f:]+$"  # IPv4-embedded IPv6 text (::ffff:1.2.3.4) is not parsed: null


def _v4_int(s: pl.Expr) -> pl.Expr:
    octets = s.str.split(".")
    value = pl.lit(0, dtype=pl.UInt64)
    ok = pl.lit(True)
    for i in range(4):
        o = octets.list.get(i, null_on_oob=True).cast(pl.UInt64, strict=False)
        ok = ok & (o <= 255)
        value = value * 256 + o
    return pl.when(s.str.contains(_V4_RE) & ok).then(value.cast(pl.UInt128))


def _hex_groups(part: pl.Expr) -> pl.Expr:
    """'a:b:c' -> ["a","b","c"]; '' or null -> []."""
    return part.fill_null("").str.split(":").list.eval(pl.element().filter(pl.element() != ""))


def ip_keys(frame: pl.DataFrame, col: str, out: str = "_key") -> pl.DataFrame:
    """Add ``out``: the UInt128 key of address text ``frame[col]`` (null when invalid).

    Staged column by column: one big nested expression costs polars far more to plan.
    """
    s = pl.col("_s")
    f = frame.with_columns(
        _s=pl.col(col).str.strip_chars().str.to_lowercase().str.replace(r"%.*$", "")
    )
    f = f.with_columns(_v4=_v4_int(s), _halves=pl.when(s.str.contains(":")).then(s.str.split("::")))
    f = f.with_columns(
        _head=_hex_groups(pl.col("_halves").list.get(0, null_on_oob=True)),
        _tail=_hex_groups(pl.col("_halves").list.get(1, null_on_oob=True)),
    )
    f = f.with_columns(_nz=8 - pl.col("_head").list.len() - pl.col("_tail").list.len())
    zeros = pl.lit("0").repeat_by(pl.col("_nz").clip(0, 8)).cast(pl.List(pl.String))
    f = f.with_columns(
        _g=pl.concat_list("_head", zeros, "_tail").list.eval(
            pl.element().str.to_integer(base=16, strict=False).cast(pl.UInt64)
        )
    )
    hi = pl.lit(0, dtype=pl.UInt64)
    lo = pl.lit(0, dtype=pl.UInt64)
    for i in range(8):
        g = pl.col("_g").list.get(i, null_on_oob=True)
        if i < 4:
            hi = hi * 65536 + g
        else:
            lo = lo * 65536 + g
    nh = pl.col("_halves").list.len()
    valid = (
        s.str.contains(_V6_RE)
        & ((nh == 2) & (pl.col("_nz") >= 1) | (nh == 1) & (pl.col("_nz") == 0))
        & (pl.col("_g").list.max() <= 0xFFFF)
        & (pl.col("_g").list.len() == 8)
    )
    f = f.with_columns(
        _v6=pl.when(valid).then(
            hi.cast(pl.UInt128) * pl.lit(2**64, dtype=pl.UInt128) + lo.cast(pl.UInt128)
        )
    )
    key = pl.when(pl.col("_halves").is_not_null()).then(
        pl.when(pl.col("_v6") > V4_MAX).then(pl.col("_v6"))
    )
    return f.with_columns(key.otherwise(pl.col("_v4")).cast(pl.UInt128).alias(out)).drop(
        "_s", "_v4", "_halves", "_head", "_tail", "_nz", "_g", "_v6"
    )


def is_ip_literal(expr: pl.Expr) -> pl.Expr:
    """True when the text looks like an IPv4 address or (bracketed) IPv6 address."""
    s = expr.str.strip_chars("[] ")
    return s.str.contains(_V4_RE) | s.str.contains(r"^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$")


def cidr_range(cidr: str) -> tuple[int, int, int, int]:
    """CIDR text -> (first, last, prefix length, IP version) in the ip_keys key space."""
    net = ipaddress.ip_network(cidr.strip(), strict=True)
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 6 and last <= V4_MAX:
        raise ValueError(f"{cidr}: IPv6 prefixes inside ::/96 are not supported")
    return first, last, net.prefixlen, net.version


def flatten_ranges(ranges: list[tuple[int, int, int, object]]) -> list[tuple[int, int, object]]:
    """Nested (first, last, prefixlen, value) ranges -> disjoint (first, last, value), longest wins.

    Lets a single join_asof answer longest-prefix-match questions.
    """
    if not ranges:
        return []
    points = sorted({r[0] for r in ranges} | {r[1] + 1 for r in ranges})
    by_first = sorted(ranges, key=lambda r: r[0])
    out: list[tuple[int, int, object]] = []
    for lo, nxt in zip(points, points[1:], strict=False):
        hi = nxt - 1
        best = None
        for r in by_first:
            if r[0] > lo:
                break
            if r[1] >= hi and (best is None or r[2] > best[2]):
                best = r
        if best is None:
            continue
        if out and out[-1][2] == best[3] and out[-1][1] + 1 == lo:
            out[-1] = (out[-1][0], hi, best[3])
        else:
            out.append((lo, hi, best[3]))
    return out


def range_table(rows: list[tuple[int, int, object]], value_name: str) -> pl.DataFrame:
    """Disjoint (first, last, value) rows -> frame sorted by first, ready for join_asof."""
    return pl.DataFrame(
        {
            "ip_first": pl.Series([r[0] for r in rows], dtype=pl.UInt128),
            "ip_last": pl.Series([r[1] for r in rows], dtype=pl.UInt128),
            value_name: [r[2] for r in rows],
        },
        schema_overrides={"ip_first": pl.UInt128, "ip_last": pl.UInt128},
    ).sort("ip_first")


def lookup_ranges(
    frame: pl.DataFrame, ip_col: str, table: pl.DataFrame, value_name: str
) -> pl.Series:
    """Value of the range containing each address of ``frame[ip_col]`` (null when none).

    Works on the distinct addresses and joins back, so cost follows the day's distinct IPs.
    """
    ips = ip_keys(frame.select(pl.col(ip_col).alias("_ip")).unique(), "_ip", "_k")
    ips = ips.filter(pl.col("_k").is_not_null())
    hit = (
        ips.sort("_k")
        .join_asof(
            table, left_on="_k", right_on="ip_first", strategy="backward", check_sortedness=False
        )
        .select("_ip", pl.when(pl.col("_k") <= pl.col("ip_last")).then(pl.col(value_name)))
    )
    return (
        frame.select(pl.col(ip_col).alias("_ip"))
        .join(hit, on="_ip", how="left", maintain_order="left")
        .get_column(value_name)
    )
