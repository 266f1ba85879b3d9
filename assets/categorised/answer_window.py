"""The passive-DNS answers a run of connections can use, read from the dns partitions as the
connections advance in time instead of held for the whole day.

A connection at time t takes the latest answer at or before t and never one older than the
recency cap (`hostnames.DNS_MAX_AGE_S`), so the connections of [lo, hi] need exactly the
answers of [lo - cap, hi]. The dns tables are stored in time order: the window reads chunks
until it is past hi and lets go of what falls before lo - cap, so a day holds about the cap's
share of its answers (6 h of 30) whatever its size. A window asked for an earlier time than it
still holds starts again from the beginning (flow sessions after the conn rows do that once),
and tables found out of order are held whole: slower or bigger, never different.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import polars as pl

from assets.categorised.hostnames import DNS_MAX_AGE_S, dns_answer_rows


def compact_answers(answers: pl.DataFrame) -> pl.DataFrame:
    """Client, address and name as categorical codes (4 bytes a row instead of the text):
    the answers are the biggest lookup, and their values repeat."""
    return answers.with_columns(pl.col("client", "ip", "dns_name").cast(pl.Categorical))


def chunk_answers(dns: pl.DataFrame) -> pl.DataFrame:
    """One dns chunk's answers, compact, in (dns_ts, dns_name) order (stable)."""
    return compact_answers(dns_answer_rows(dns)).sort("dns_ts", "dns_name", maintain_order=True)


def ordered_answers(chunks: list[pl.DataFrame], empty: pl.DataFrame) -> pl.DataFrame:
    """The chunks' answers as the stable (dns_ts, dns_name) sort of their concatenation.
    Each chunk is sorted already; chunks that do not overlap in time (no tie at a border)
    are then in order as they stand, without a sorted copy."""
    chunks = [c for c in chunks if c.height]
    if not chunks:
        return empty
    ordered = all(
        a.get_column("dns_ts")[-1] < b.get_column("dns_ts")[0]
        for a, b in zip(chunks, chunks[1:], strict=False)
    )
    answers = pl.concat(chunks, how="vertical", rechunk=False)
    if not ordered:
        answers = answers.sort("dns_ts", "dns_name", maintain_order=True)
    return answers


class AnswerWindow:
    """`between(lo, hi)`: the answers with lo - cap <= dns_ts <= hi, in the order the whole
    day's sorted answers have them. `chunks()` gives the dns chunks (ts, id_orig_h, query,
    answers, ttls) of the previous day then the day, afresh on each call."""

    def __init__(
        self,
        chunks: Callable[[], Iterator[pl.DataFrame]],
        empty: pl.DataFrame,
        max_age_s: float = DNS_MAX_AGE_S,
    ):
        self._chunks, self._empty = chunks, empty
        self._cap = dt.timedelta(seconds=max_age_s)
        self._restart()

    def _restart(self) -> None:
        self._source = self._chunks()
        self._held: list[pl.DataFrame] = []  # answers of the chunks read, in read order
        self._floor: dt.datetime | None = None  # everything at or after it is held
        self._read_to: dt.datetime | None = None  # last dns ts read
        self._done = False
        self._whole = False  # a chunk came out of order: hold everything

    def between(self, lo: dt.datetime, hi: dt.datetime) -> pl.DataFrame:
        start = lo - self._cap
        if self._floor is not None and start < self._floor:
            self._restart()
        while not self._done and (self._whole or self._read_to is None or self._read_to <= hi):
            self._read_next()
        if not self._whole:
            keep = [a for a in self._held if a.height and a.get_column("dns_ts")[-1] >= start]
            if len(keep) < len(self._held):
                self._held = keep
                self._floor = start
        answers = ordered_answers(self._held, self._empty)
        return answers.filter(pl.col("dns_ts").is_between(start, hi))

    def _read_next(self) -> None:
        dns = next(self._source, None)
        if dns is None:
            self._done = True
            return
        if dns.height == 0:
            return
        ts = dns.get_column("ts")
        first, last = ts.min(), ts.max()
        if not ts.is_sorted() or (self._read_to is not None and first < self._read_to):
            self._whole = True  # not in time order: nothing can be let go of
        self._read_to = last if self._read_to is None else max(self._read_to, last)
        self._held.append(chunk_answers(dns))
