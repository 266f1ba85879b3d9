"""Registered domain (PSL registrable domain, ICANN section) of hostnames.

Runs the maintained ``publicsuffixlist`` library (bundled snapshot, offline) over the
*distinct* hostnames of a day and joins the answers back: a day has far fewer distinct
names than connections, and the library keeps the PSL's wildcard and exception rules
exactly right. The ICANN section only is used, so ``x.blogspot.com`` -> ``blogspot.com``
and ``d1.cloudfront.net`` -> ``cloudfront.net`` (the domain somebody registered), which is
what the unknown-domains table should group by.
"""

from __future__ import annotations

from functools import lru_cache

import polars as pl

from assets.core.addresses import is_ip_literal


@lru_cache(maxsize=1)
def _psl():
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList(only_icann=True)


def to_ascii(name: str) -> str | None:
    """IDNA A-label form of a (lower-case) hostname; None when it cannot be encoded."""
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def registered_domains(hostnames: pl.Series) -> pl.DataFrame:
    """Distinct hostnames -> frame(hostname, ascii_hostname, registered_domain).

    ``ascii_hostname`` is the IDNA form used for rule matching; ``registered_domain`` is in
    that form too, null for IP literals, bare public suffixes and single labels.
    """
    names = (
        pl.DataFrame({"hostname": hostnames.cast(pl.String)})
        .filter(pl.col("hostname").is_not_null() & ~is_ip_literal(pl.col("hostname")))
        .unique()
    )
    psl = _psl()
    # per distinct name, not per row: the PSL library is the authority on its rules
    ascii_names = [to_ascii(h) for h in names.get_column("hostname").to_list()]
    regs = [psl.privatesuffix(a) if a else None for a in ascii_names]
    return names.with_columns(
        ascii_hostname=pl.Series(ascii_names, dtype=pl.String),
        registered_domain=pl.Series(regs, dtype=pl.String),
    )
