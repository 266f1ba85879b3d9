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

from assets.categorised.answer_window import AnswerWindow, chunk_answers, ordered_answers
from assets.categorised.domains import registered_domains
from assets.categorised.evidence import cert_by_uid, cert_subjects
from assets.categorised.hostnames import (
    http_host_rows,
    normalised_column,
    sni_rows,
)
from assets.categorised.uid_lookup import PairSet, UidLookup, first_per_key, key_hashes


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


def resolved_hashes(dns: pl.DataFrame) -> pl.DataFrame:
    """`resolved_pairs` as the two hashes a pair (`PairSet`), distinct."""
    pairs = resolved_pairs(dns)
    return pairs.select(PairSet.hashes(pl.col("orig_h"), pl.col("_ascii"))).unique()


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
    sni: UidLookup  # (sensor, uid) -> sni
    http_host: UidLookup  # (sensor, uid) -> http_host
    certs: pl.DataFrame  # uid, cert_org, cert_name
    # client, ip, dns_ts, dns_name, ttl; sorted by dns_ts, dns_name: the whole day's, or the
    # window read from the lake as the connections advance
    answers: pl.DataFrame | AnswerWindow
    resolved: PairSet  # (orig_h, _ascii): this client resolved this name
    names: NameCache = field(default_factory=NameCache)

    @classmethod
    def from_frames(cls, dns: pl.DataFrame, ssl: pl.DataFrame, http: pl.DataFrame) -> DayLookups:
        """The lookups of whole-day frames (one chunk each)."""
        b = LookupBuilder()
        b.add_dns(dns)
        b.add_ssl(ssl)
        b.add_http(http)
        return b.build()

    def answers_for(self, ts: pl.Series) -> pl.DataFrame:
        """The answers connections at the times `ts` can use (all they could of the day's)."""
        lo, hi = ts.min(), ts.max()
        if lo is None:
            return _EMPTY_ANSWERS
        if isinstance(self.answers, AnswerWindow):
            return self.answers.between(lo, hi)
        return self.answers

    @property
    def estimated_bytes(self) -> int:
        frames = [self.sni, self.http_host, self.certs, self.resolved]
        if isinstance(self.answers, pl.DataFrame):
            frames.append(self.answers)
        return sum(f.estimated_size() for f in frames)


class LookupBuilder:
    """Accumulates the reduced forms of ssl, http and dns chunks (any order of chunks of one
    table is fine as long as it is the table's row order). `answers=False`: the dns chunks
    give only the resolved pairs (the answers come from an `AnswerWindow`).

    The chunks' partial frames are reduced again together whenever they have grown past
    the last reduction's rows (first per key of the firsts so far, distinct pairs): the same
    result as one reduction at the end, without holding every chunk's partial at once."""

    def __init__(self, answers: bool = True):
        self._with_answers = answers
        self._sni: list[pl.DataFrame] = []
        self._http: list[pl.DataFrame] = []
        self._certs: list[pl.DataFrame] = []
        self._answers: list[pl.DataFrame] = []
        self._resolved: list[pl.DataFrame] = []

    def add_ssl(self, ssl: pl.DataFrame) -> None:
        self._sni.append(_hashed_firsts(sni_rows(ssl), "sni"))
        self._sni = _reduced(self._sni, lambda f: first_per_key(f, "ts", "sni"))
        # subjects repeat (a site's certificate): a categorical code each, not its text
        subjects = cert_subjects(ssl).with_columns(pl.col("subject").cast(pl.Categorical))
        self._certs.append(_first_by(subjects, ["uid"]))
        self._certs = _reduced(self._certs, lambda f: _first_by(f, ["uid"]))

    def add_http(self, http: pl.DataFrame) -> None:
        self._http.append(_hashed_firsts(http_host_rows(http), "http_host"))
        self._http = _reduced(self._http, lambda f: first_per_key(f, "ts", "http_host"))

    def add_dns(self, dns: pl.DataFrame) -> None:
        if self._with_answers:
            self._answers.append(chunk_answers(dns))
        self._resolved.append(resolved_hashes(dns))
        self._resolved = _reduced(self._resolved, pl.DataFrame.unique)

    def build(self) -> DayLookups:
        # the first row of a key over the day is the first among each chunk's first rows
        sni = UidLookup(first_per_key(_concat(self._sni, _EMPTY_FIRSTS["sni"]), "sni"))
        http = UidLookup(
            first_per_key(_concat(self._http, _EMPTY_FIRSTS["http_host"]), "http_host")
        )
        certs = cert_by_uid(_concat(self._certs, cert_subjects(_EMPTY_SSL)))
        answers = ordered_answers(self._answers, _EMPTY_ANSWERS)
        resolved = PairSet(_concat(self._resolved, resolved_hashes(_EMPTY_DNS)))
        self.__init__(self._with_answers)  # the partial frames are no longer needed
        return DayLookups(sni, http, certs, answers, resolved)


def _reduced(parts: list[pl.DataFrame], reduce) -> list[pl.DataFrame]:
    """`parts` (the first the reduction so far), reduced into one frame once the later parts
    hold more rows than the first: each row is reduced a bounded number of times."""
    if len(parts) < 2 or sum(p.height for p in parts[1:]) <= max(parts[0].height, 100_000):
        return parts
    return [reduce(pl.concat(parts, how="vertical_relaxed"))]


def _hashed_firsts(rows: pl.DataFrame, col: str) -> pl.DataFrame:
    """ts, _k1, _k2 and `col` (categorical: names repeat) of each key's first row."""
    rows = key_hashes(rows.with_columns(pl.col(col).cast(pl.Categorical)))
    return first_per_key(rows, "ts", col)


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

_EMPTY_ANSWERS = chunk_answers(_EMPTY_DNS)
_EMPTY_FIRSTS = {
    "sni": _hashed_firsts(sni_rows(_EMPTY_SSL), "sni"),
    "http_host": _hashed_firsts(http_host_rows(_EMPTY_HTTP), "http_host"),
}
