"""The day's lookups for categorising connections, built once per day in compact form.

Everything a connection is categorised by that does not come from its own conn row: hostnames
by (sensor, uid) from ssl (SNI) and http (Host), certificates by uid, the passive-DNS answers
of the day and the day before, and which client resolved which name. `LookupBuilder` takes
the ssl/http/dns rows in chunks of any size and keeps only its reduced form of each (first
value per connection, answered addresses, distinct pairs), so the result is the same for any
chunking; conn chunks are then categorised against it (`sessions.categorise_chunk`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from assets.categorised.domains import registered_domains
from assets.categorised.evidence import cert_by_uid, cert_subjects
from assets.categorised.hostnames import (
    KEY,
    _first_per_uid,
    dns_answer_rows,
    http_host_rows,
    normalised_column,
    sni_rows,
)


def _first_by(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    # stable: among equal ts the earlier row (chunk order, then row order) wins
    return frame.sort("ts", maintain_order=True).unique(
        subset=key, keep="first", maintain_order=True
    )


def resolved_pairs(dns: pl.DataFrame) -> pl.DataFrame:
    """Distinct (orig_h, _ascii): this client resolved this (IDNA) name through DNS."""
    pairs = dns.select(orig_h=pl.col("id_orig_h"), query=pl.col("query")).unique()
    pairs = normalised_column(pairs, "query", "_ascii").select("orig_h", "_ascii").drop_nulls()
    return pairs.unique()


@dataclass
class NameCache:
    """hostname -> ascii_hostname, registered_domain, each distinct name resolved once a day
    (the public-suffix lookup is per name, in Python)."""

    names: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(
            schema={
                "hostname": pl.String,
                "ascii_hostname": pl.String,
                "registered_domain": pl.String,
            }
        )
    )

    def lookup(self, hostnames: pl.Series) -> pl.DataFrame:
        """The cached rows for `hostnames`, computing only names not seen before."""
        wanted = pl.DataFrame({"hostname": hostnames.cast(pl.String)}).drop_nulls().unique()
        new = wanted.join(self.names, on="hostname", how="anti")
        if new.height:
            self.names = pl.concat([self.names, registered_domains(new.get_column("hostname"))])
        return self.names.join(wanted, on="hostname", how="semi")


@dataclass
class DayLookups:
    sni: pl.DataFrame  # sensor, uid, sni
    http_host: pl.DataFrame  # sensor, uid, http_host
    certs: pl.DataFrame  # uid, cert_org, cert_name
    answers: pl.DataFrame  # client, ip, dns_ts, dns_name, ttl; sorted by dns_ts, dns_name
    resolved: pl.DataFrame  # orig_h, _ascii, _resolved
    names: NameCache = field(default_factory=NameCache)

    @classmethod
    def from_frames(cls, dns: pl.DataFrame, ssl: pl.DataFrame, http: pl.DataFrame) -> DayLookups:
        """The lookups of whole-day frames (one chunk each)."""
        b = LookupBuilder()
        b.add_dns(dns)
        b.add_ssl(ssl)
        b.add_http(http)
        return b.build()

    @property
    def estimated_bytes(self) -> int:
        frames = (self.sni, self.http_host, self.certs, self.answers, self.resolved)
        return sum(f.estimated_size() for f in frames)


class LookupBuilder:
    """Accumulates the reduced forms of ssl, http and dns chunks (any order of chunks of one
    table is fine as long as it is the table's row order)."""

    def __init__(self):
        self._sni: list[pl.DataFrame] = []
        self._http: list[pl.DataFrame] = []
        self._certs: list[pl.DataFrame] = []
        self._answers: list[pl.DataFrame] = []
        self._resolved: list[pl.DataFrame] = []

    def add_ssl(self, ssl: pl.DataFrame) -> None:
        self._sni.append(_first_by(sni_rows(ssl), KEY))
        subjects = cert_subjects(ssl)
        self._certs.append(_first_by(subjects, ["uid"]))

    def add_http(self, http: pl.DataFrame) -> None:
        self._http.append(_first_by(http_host_rows(http), KEY))

    def add_dns(self, dns: pl.DataFrame) -> None:
        answers = _compact_answers(dns_answer_rows(dns))
        self._answers.append(answers.sort("dns_ts", "dns_name", maintain_order=True))
        self._resolved.append(resolved_pairs(dns))

    def build(self) -> DayLookups:
        # the first row of a key over the day is the first among each chunk's first rows
        sni = _first_per_uid(_concat(self._sni, sni_rows(_EMPTY_SSL)), "sni")
        http = _first_per_uid(_concat(self._http, http_host_rows(_EMPTY_HTTP)), "http_host")
        certs = cert_by_uid(_concat(self._certs, cert_subjects(_EMPTY_SSL)))
        answers = _sorted_answers(self._answers)
        resolved = (
            _concat(self._resolved, resolved_pairs(_EMPTY_DNS))
            .unique()
            .with_columns(_resolved=pl.lit(True))
        )
        self.__init__()  # the partial frames are no longer needed
        return DayLookups(sni, http, certs, answers, resolved)


def _sorted_answers(chunks: list[pl.DataFrame]) -> pl.DataFrame:
    """The day's answers by (dns_ts, dns_name), stable. Each chunk is sorted already; chunks
    of a ts-ordered table that do not overlap in time (no tie at a border) are then in order
    as they stand, without a sorted copy of the day. (Categorical text sorts lexically: the
    order of the String sort.)"""
    chunks = [c for c in chunks if c.height]
    if not chunks:
        return _compact_answers(dns_answer_rows(_EMPTY_DNS))
    ordered = all(
        a.get_column("dns_ts")[-1] < b.get_column("dns_ts")[0]
        for a, b in zip(chunks, chunks[1:], strict=False)
    )
    answers = pl.concat(chunks, how="vertical", rechunk=False)
    if not ordered:
        answers = answers.sort("dns_ts", "dns_name", maintain_order=True)
    return answers


def _compact_answers(answers: pl.DataFrame) -> pl.DataFrame:
    """Client, address and name as categorical codes (4 bytes a row instead of the text):
    the answers are the biggest lookup, and their values repeat."""
    return answers.with_columns(pl.col("client", "ip", "dns_name").cast(pl.Categorical))


def _concat(frames: list[pl.DataFrame], empty: pl.DataFrame) -> pl.DataFrame:
    frames = [f for f in frames if f.height]
    if not frames:
        return empty
    return pl.concat(frames, how="vertical_relaxed")


_EMPTY_SSL = pl.DataFrame(
    schema={
        "ts": pl.Datetime("us", "UTC"),
        "uid": pl.String,
        "sensor": pl.String,
        "server_name": pl.String,
        "subject": pl.String,
    }
)
_EMPTY_HTTP = pl.DataFrame(
    schema={
        "ts": pl.Datetime("us", "UTC"),
        "uid": pl.String,
        "sensor": pl.String,
        "host": pl.String,
    }
)
_EMPTY_DNS = pl.DataFrame(
    schema={
        "ts": pl.Datetime("us", "UTC"),
        "id_orig_h": pl.String,
        "query": pl.String,
        "answers": pl.List(pl.String),
        "ttls": pl.List(pl.Float64),
    }
)
