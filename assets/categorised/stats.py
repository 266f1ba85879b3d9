"""Coverage statistics of a day's sessions (the categorised asset's metadata), summed exactly
over the chunks the day is categorised in."""

from __future__ import annotations

import polars as pl

from assets.categorised.hostnames import HOSTNAME_SOURCES
from assets.core.vocabulary import DIRECTIONS
from assets.reference.loaders import UNKNOWN_SERVICE

MATCH_SOURCES = ("domain", "category_list", "cert_org", "ip_prefix", "asn", "port", "none")

_MASKS = {
    "hostname": pl.col("hostname").is_not_null(),
    "service": pl.col("service") != UNKNOWN_SERVICE,
    **{f"hostname_{src}": pl.col("hostname_source") == src for src in HOSTNAME_SOURCES},
}


class SessionStats:
    """Counts, byte sums and distinct-value sets of session chunks; `result()` gives the
    same figures as one whole-day frame (shares from the summed integers; distinct counts
    from the union of the chunks' distinct values, null counted as a value like n_unique)."""

    def __init__(self):
        self.n = 0
        self.bytes = 0
        self.masked = {k: [0, 0] for k in _MASKS}
        self.counts: dict[str, dict[str, int]] = {
            "hostname_source": dict.fromkeys(HOSTNAME_SOURCES, 0),
            "match_source": dict.fromkeys(MATCH_SOURCES, 0),
            "direction": dict.fromkeys(DIRECTIONS, 0),
        }
        self._hostnames = pl.Series("hostname", [], dtype=pl.String)
        self._unknown_domains = pl.Series("registered_domain", [], dtype=pl.String)

    def add(self, sessions: pl.DataFrame) -> None:
        self.n += sessions.height
        self.bytes += int(sessions.get_column("bytes_total").sum() or 0)
        row = sessions.select(
            *(m.fill_null(False).sum().alias(f"c_{k}") for k, m in _MASKS.items()),
            *(
                pl.when(m).then(pl.col("bytes_total")).otherwise(0).sum().alias(f"b_{k}")
                for k, m in _MASKS.items()
            ),
        ).row(0, named=True)
        for k in _MASKS:
            self.masked[k][0] += int(row[f"c_{k}"] or 0)
            self.masked[k][1] += int(row[f"b_{k}"] or 0)
        for col, known in self.counts.items():
            for key, n in sessions.group_by(col).len().iter_rows():
                if key in known:
                    known[key] += int(n)
        self._hostnames = pl.concat(
            [self._hostnames, sessions.get_column("hostname").unique()]
        ).unique()
        unknown = sessions.filter(pl.col("service") == UNKNOWN_SERVICE)
        self._unknown_domains = pl.concat(
            [self._unknown_domains, unknown.get_column("registered_domain").drop_nulls().unique()]
        ).unique()

    def _share(self, key: str) -> tuple[float, float]:
        c, b = self.masked[key]
        return (c / self.n if self.n else 0.0, b / self.bytes if self.bytes else 0.0)

    def result(self) -> dict:
        with_host, with_service = self._share("hostname"), self._share("service")
        stats: dict = {
            "sessions": self.n,
            "bytes": self.bytes,
            "share_sessions_with_hostname": round(with_host[0], 6),
            "share_bytes_with_hostname": round(with_host[1], 6),
            "share_sessions_with_service": round(with_service[0], 6),
            "share_bytes_with_service": round(with_service[1], 6),
        }
        for src in HOSTNAME_SOURCES:
            s = self._share(f"hostname_{src}")
            stats[f"share_sessions_hostname_{src}"] = round(s[0], 6)
            stats[f"share_bytes_hostname_{src}"] = round(s[1], 6)
        stats["sessions_by_hostname_source"] = dict(self.counts["hostname_source"])
        stats["sessions_by_match_source"] = dict(self.counts["match_source"])
        stats["sessions_by_direction"] = dict(self.counts["direction"])
        stats["distinct_hostnames"] = self._hostnames.len()
        stats["unknown_registered_domains"] = self._unknown_domains.len()
        return stats
