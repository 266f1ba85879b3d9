"""Remote country: IP -> ISO 3166 alpha-2 through a sorted range table and join_asof.

The table is built once per process from geoip2fast's bundled database (IPv4 and IPv6),
or from a MaxMind-format database by iterating its networks. Lookups never call a
per-address Python function.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
from functools import lru_cache
from pathlib import Path

import polars as pl

from assets.core.addresses import V4_MAX, lookup_ranges, range_table

_GEOIP2FAST_FILE = "geoip2fast-ipv6.dat.gz"  # the bundled file with both IPv4 and IPv6
_PRIVATE_CODES = 16  # geoip2fast's first 16 country slots are reserved/private blocks


@lru_cache(maxsize=2)
def geoip2fast_table() -> pl.DataFrame:
    """Range table (ip_first, ip_last, country) from geoip2fast's bundled data file."""
    # locate the package's data without importing it (its import does work we don't need)
    spec = importlib.util.find_spec("geoip2fast")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("geoip2fast is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / _GEOIP2FAST_FILE
    with gzip.open(path, "rb") as f:
        # the package's own pickled data (its loader does exactly this)
        version, _info, _total, database = pickle.load(f)  # noqa: S301
    if version not in (120, 121):
        raise RuntimeError(f"{path}: unsupported geoip2fast data version {version}")
    _index, names, first_chunks, id_chunks, len_chunks = database
    codes = [n.split(":", 1)[0] for n in names]
    firsts = pl.Series([x for c in first_chunks for x in c], dtype=pl.UInt128)
    lens = pl.Series([x for c in len_chunks for x in c], dtype=pl.Int32)
    ids = pl.Series([x for c in id_chunks for x in c], dtype=pl.Int32)
    code_table = pl.DataFrame(
        {"cid": pl.Series(range(len(codes)), dtype=pl.Int32), "country": codes}
    ).with_columns(
        # reserved/private slots and non-ISO codes (geoip2fast has a few) mean "no country"
        country=pl.when(
            (pl.col("cid") >= _PRIVATE_CODES) & pl.col("country").str.contains(r"^[A-Z]{2}$")
        ).then(pl.col("country"))
    )
    frame = pl.DataFrame({"ip_first": firsts, "netlen": lens, "cid": ids})
    bits = pl.when(pl.col("ip_first") <= V4_MAX).then(32).otherwise(128)
    # 2**(bits - netlen) - 1 as UInt128 through a small exponent table (no per-row Python)
    powers = pl.DataFrame(
        {
            "exp": pl.Series(range(129), dtype=pl.Int32),
            "span": pl.Series([2**e - 1 for e in range(129)], dtype=pl.UInt128),
        }
    )
    return (
        frame.with_columns(exp=(bits - pl.col("netlen")).cast(pl.Int32))
        .join(powers, on="exp", how="left")
        .join(code_table, on="cid", how="left")
        .filter(pl.col("country").is_not_null())
        .select(
            "ip_first",
            ip_last=pl.col("ip_first") + pl.col("span"),
            country=pl.col("country"),
        )
        .sort("ip_first")
    )


def _mmdb_country(record: object) -> str | None:
    if not isinstance(record, dict):
        return None
    for key in ("country", "registered_country", "represented_country"):
        iso = (record.get(key) or {}).get("iso_code") if isinstance(record.get(key), dict) else None
        if isinstance(iso, str) and len(iso) == 2 and iso.isalpha():
            return iso.upper()
    return None


@lru_cache(maxsize=4)
def _mmdb_table_cached(path: str, mtime: float) -> pl.DataFrame:
    import maxminddb

    rows = []
    with maxminddb.open_database(path) as reader:
        for network, record in reader:
            country = _mmdb_country(record)
            if country is None:
                continue
            first, last = int(network.network_address), int(network.broadcast_address)
            if network.version == 6 and last <= V4_MAX:
                continue  # ::/96 space, not a real IPv6 destination
            rows.append((first, last, country))
    return range_table(rows, "country")


def mmdb_table(path: str | os.PathLike) -> pl.DataFrame:
    """Range table from a MaxMind-format (.mmdb) country or city database."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"GeoIP database not found: {p}")
    return _mmdb_table_cached(str(p.resolve()), p.stat().st_mtime)


def countries(frame: pl.DataFrame, ip_col: str, table: pl.DataFrame) -> pl.Series:
    """ISO country of each address in ``frame[ip_col]``; null for private/unknown/invalid."""
    return lookup_ranges(frame, ip_col, table, "country").alias("remote_country")
