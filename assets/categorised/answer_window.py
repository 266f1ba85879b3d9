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

from assets.categorised.hostnames import DNS_MAX_AGE_S, dns_answer_rows, pair_hashes


def compact_answers(answers: pl.DataFrame) -> pl.DataFrame:
    """The answers as the lookups keep them: the (client, address) pair as two 64-bit hashes
    (`pair_hashes`, the key connections look answers up by) instead of its text, the name as
    a categorical code (names repeat; addresses would not: every distinct connection address
    cast to a categorical would stay in polars' process-wide categories)."""
    return answers.select(
        *pair_hashes(pl.col("client"), pl.col("ip")),
        "dns_ts",
        pl.col("dns_name").cast(pl.Categorical),
        "ttl",
    )


def chunk_answers(dns: pl.DataFrame) -> pl.DataFrame:
    """One dns chunk's answers, compact, in (dns_ts, dns_name) order (stable)."""
    return compact_answers(dns_answer_rows(dns)).sort("dns_ts", "dns_name", maintain_order=True)


def append_ordered(answers: pl.DataFrame, chunk: pl.DataFrame) -> pl.DataFrame:
    """`answers` (sorted) followed by a sorted chunk, as the stable (dns_ts, dns_name) sort of
    their concatenation: only the rows from the chunk's first time on are sorted again."""
    if chunk.height == 0:
        return answers
    if answers.height == 0:
        return chunk
    first = chunk.get_column("dns_ts")[0]
    if answers.get_column("dns_ts")[-1] < first:
        return pl.concat([answers, chunk], how="vertical", rechunk=False)
    cut = answers.get_column("dns_ts").search_sorted(first, side="left")
    tail = pl.concat([answers.slice(cut), chunk], how="vertical")
    tail = tail.sort("dns_ts", "dns_name", maintain_order=True)
    return pl.concat([answers.slice(0, cut), tail], how="vertical", rechunk=False)


def ordered_answers(chunks: list[pl.DataFrame], empty: pl.DataFrame) -> pl.DataFrame:
    """The chunks' answers (each sorted) as the stable (dns_ts, dns_name) sort of their
    concatenation."""
    answers = empty
    for chunk in chunks:
        answers = append_ordered(answers, chunk)
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
        self._held = self._empty  # the answers read and not let go of, sorted
        self._floor: dt.datetime | None = None  # everything at or after it is held
        self._read_to: dt.datetime | None = None  # last dns ts read
        self._done = False
        self._whole = False  # a chunk came out of order: read everything

    def between(self, lo: dt.datetime, hi: dt.datetime) -> pl.DataFrame:
        start = lo - self._cap
        if self._floor is not None and start < self._floor:
            self._restart()
        while not self._done and (self._whole or self._read_to is None or self._read_to <= hi):
            self._read_next()
        times = self._held.get_column("dns_ts")
        i = times.search_sorted(start, side="left")
        j = times.search_sorted(hi, side="right")
        if i > 0:  # later calls start no earlier (or the window starts again)
            self._held, self._floor, j = self._held.slice(i), start, j - i
            i = 0
        return self._held.slice(i, j - i)

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
            self._whole = True  # not in time order: any later chunk may hold earlier times
        self._read_to = last if self._read_to is None else max(self._read_to, last)
        self._held = append_ordered(self._held, chunk_answers(dns))
