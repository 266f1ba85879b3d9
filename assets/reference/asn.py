"""Remote address -> AS number and AS organisation, offline.

Two sources, both shipped or chosen by the user, never downloaded:

- ``geoip2fast`` (default): the package's bundled ASN file (MaxMind GeoLite2 data) through
  its public ``GeoIP2Fast.lookup`` API. That file carries the AS *organisation* of every
  routed prefix but not the AS *number*, so ``remote_asn`` is filled from ``numbers`` (AS
  organisation -> number, e.g. the taxonomy's ``asns`` rules) and is null for other orgs.
- a MaxMind-format ASN database (GeoLite2-ASN.mmdb or compatible; ``HERMIT_ASN_MMDB``):
  number and organisation for every routed address.

Only the distinct addresses of a frame are looked up, and answers are cached per process,
so a day of sessions costs one lookup per new remote address.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import polars as pl

ASN_MMDB_ENV = "HERMIT_ASN_MMDB"
_GEOIP2FAST_ASN_FILE = "geoip2fast-asn-ipv6.dat.gz"  # IPv4 + IPv6, country + ASN
# geoip2fast answers these for reserved/private space or addresses no prefix covers
_NO_ORG = {"", "<unknown>", "IANA.ORG"}
# Bytes one cached answer takes (the address text, the tuple, the dict slot), and the share of
# the memory budget the cache may hold: at 2M entries it held ~450 MB, growing with a big
# day's distinct addresses.
_CACHE_BYTES_PER_ENTRY = 250
_CACHE_SHARE = 0.03
_lock = threading.Lock()

ASN_SCHEMA = {"remote_asn": pl.UInt32, "remote_org": pl.String}


class AsnSource:
    """One ASN source with a per-address answer cache: ip text -> (number | None, org | None)."""

    def __init__(self, name: str, lookup):
        self.name = name
        self._lookup = lookup
        self._cache: dict[str, tuple[int | None, str | None]] = {}

    def answers(self, ips: list[str]) -> list[tuple[int | None, str | None]]:
        with _lock:
            if len(self._cache) > _cache_limit():
                self._cache.clear()
            missing = [ip for ip in ips if ip not in self._cache]
            for ip in missing:
                self._cache[ip] = self._lookup(ip)
            return [self._cache[ip] for ip in ips]


def _cache_limit() -> int:
    from assets import memory

    return memory.chunk_rows(_CACHE_BYTES_PER_ENTRY, share=_CACHE_SHARE)


@lru_cache(maxsize=1)
def geoip2fast_reader():
    """The process's one GeoIP2Fast, on the bundled file with IPv4 and IPv6, countries and AS
    organisations. GeoIP2Fast keeps its tables in module globals, so a second instance on
    another file (the default IPv4-only one) would silently change every earlier instance's
    answers: whoever needs geoip2fast in hermit takes this one."""
    from geoip2fast import GeoIP2Fast

    return GeoIP2Fast(geoip2fast_data_file=_GEOIP2FAST_ASN_FILE)


@lru_cache(maxsize=1)
def geoip2fast_source() -> AsnSource:
    geo = geoip2fast_reader()

    def lookup(ip: str) -> tuple[int | None, str | None]:
        try:
            org = geo.lookup(ip).asn_name
        except Exception:  # noqa: BLE001 - the library raises plain Exception on bad text
            return None, None
        return None, (org if isinstance(org, str) and org not in _NO_ORG else None)

    return AsnSource("geoip2fast", lookup)


@lru_cache(maxsize=4)
def _mmdb_source(path: str, mtime: float) -> AsnSource:
    import maxminddb

    reader = maxminddb.open_database(path)

    def lookup(ip: str) -> tuple[int | None, str | None]:
        try:
            rec = reader.get(ip)
        except ValueError:
            return None, None
        if not isinstance(rec, dict):
            return None, None
        num = rec.get("autonomous_system_number")
        org = rec.get("autonomous_system_organization")
        num = int(num) if isinstance(num, int) and 0 < num < 2**32 else None
        return num, (org if isinstance(org, str) and org else None)

    return AsnSource(f"mmdb:{path}", lookup)


def mmdb_source(path: str | os.PathLike) -> AsnSource:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"ASN database not found: {p}")
    return _mmdb_source(str(p.resolve()), p.stat().st_mtime)


def asn_source(mmdb: str | None = None) -> AsnSource:
    """The configured source: ``mmdb`` (or env ``HERMIT_ASN_MMDB``), else geoip2fast."""
    path = mmdb or os.environ.get(ASN_MMDB_ENV) or None
    return mmdb_source(path) if path else geoip2fast_source()


def lookup_asns(
    ips: pl.Series, source: AsnSource, numbers: Mapping[str, int] | None = None
) -> pl.DataFrame:
    """Frame(remote_asn UInt32, remote_org String), one row per element of ``ips``, in order.

    ``numbers`` (AS organisation -> AS number) fills the number where the source gives only
    the organisation. Null address text, private space and unrouted addresses give nulls.
    """
    frame = pl.DataFrame({"_ip": ips.cast(pl.String)})
    distinct = frame.get_column("_ip").drop_nulls().unique().to_list()
    got = source.answers(distinct)
    numbers = numbers or {}
    answers = pl.DataFrame(
        {
            "_ip": distinct,
            "remote_asn": [n if n is not None else numbers.get(o) for n, o in got],
            "remote_org": [o for _, o in got],
        },
        schema={"_ip": pl.String, **ASN_SCHEMA},
    )
    return frame.join(answers, on="_ip", how="left", maintain_order="left").select(list(ASN_SCHEMA))
