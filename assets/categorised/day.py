"""One day of the categorised layer in bounded memory: the day's lookups are built once from
ssl, http and dns read in chunks, then conn is read and categorised chunk by chunk, each
chunk handed to a sink as soon as it is done (the partition writer).

Peak memory is the lookups (reduced ssl/http/dns: far smaller than the day's conn) plus one
chunk's working set, whatever the day's size. The sessions are the same rows, in the same
order, as `categorise` over the whole day: every session column depends on its conn row and
the whole-day lookups only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import polars as pl

from assets import memory
from assets.categorised.answer_window import AnswerWindow
from assets.categorised.lookups import DayLookups, LookupBuilder
from assets.categorised.sessions import INPUT_COLUMNS, categorise_chunk
from assets.categorised.stats import SessionStats
from assets.categorised.unknown import merge_partials, unknown_from_partials, unknown_partials
from assets.lake import Lake, PartitionWriter
from assets.quality.ge_runner import SuiteOutcome
from assets.reference.loaders import Reference

# Bytes of working set per conn row while a chunk is categorised (the joins of categorisation
# widen each row to ~60 columns and polars' join buffers come on top; measured at 10M conn
# records): the chunk's rows follow HERMIT_MEMORY_BUDGET through `memory.chunk_rows`. 4.5 KB
# (~89k rows under the default budget, was 3 KB / 134k): the step's peak at 10M fell from
# ~1.59 to ~1.47 GiB; the day-wide lookups are probed by binary search, so smaller chunks
# cost little more per row.
CHUNK_BYTES_PER_ROW = 4_500
STEP = "categorised"


def chunk_rows(budget: int | None = None) -> int:
    """Conn rows categorised at once under the memory budget."""
    return memory.chunk_rows(CHUNK_BYTES_PER_ROW, budget=budget)


def iter_partition(
    lake: Lake, zone: str, table: str, day: dt.date, columns: tuple[str, ...], rows: int
) -> Iterator[pl.DataFrame] | None:
    """The partition's rows in order, at most `rows` at a time; None when it was never
    written (an empty partition gives no chunks)."""
    if not lake.has_partition(zone, table, day):
        return None
    return lake.iter_partition(zone, table, day, columns, batch_rows=rows)


@dataclass
class CategorisedDay:
    """What a day's run produced beside the session rows (which went to the sink)."""

    conn_rows: int = 0
    chunks: int = 0
    stats: dict = field(default_factory=dict)
    unknown: pl.DataFrame | None = None
    lookup_bytes: int = 0
    sources: dict = field(default_factory=dict)  # sessions per source, flow records read


def day_lookups(lake: Lake, day: dt.date, rows: int) -> DayLookups:
    """The lookups of `day`: its ssl and http, and the dns of the previous day and the day
    (read once whole for the resolved names, then again as a window for the answers)."""
    dns_days = [day - dt.timedelta(days=1), day]
    builder = LookupBuilder(answers=False)
    for table, days, add in (
        ("dns", dns_days, builder.add_dns),
        ("ssl", [day], builder.add_ssl),
        ("http", [day], builder.add_http),
    ):
        for d in days:
            for chunk in (
                iter_partition(lake, "validated", table, d, INPUT_COLUMNS[table], rows) or ()
            ):
                add(chunk)
    lookups = builder.build()

    def dns_chunks() -> Iterator[pl.DataFrame]:
        for d in dns_days:
            yield from iter_partition(lake, "validated", "dns", d, INPUT_COLUMNS["dns"], rows) or ()

    lookups.answers = AnswerWindow(dns_chunks, lookups.answers)
    return lookups


def categorise_day(
    lake: Lake,
    day: dt.date,
    reference: Reference,
    sink: Callable[[pl.DataFrame], None],
    *,
    rows: int | None = None,
) -> CategorisedDay | None:
    """Categorise `day`'s validated conn chunk by chunk, then its flow sessions chunk by
    chunk, passing each sessions chunk to `sink` (Zeek rows in conn order, then flow rows);
    None when the day cannot be built (`day_inputs.day_sources` says why)."""
    from assets.categorised.day_inputs import day_sources
    from assets.categorised.flow_buckets import DaySessions
    from assets.categorised.flow_sessions import FLOW_INPUT_COLUMNS

    has_conn, has_flows, why = day_sources(lake, day)
    if why is not None:
        return None
    rows = rows or chunk_rows()
    lookups = day_lookups(lake, day, rows)
    out = CategorisedDay(lookup_bytes=lookups.estimated_bytes)
    stats = SessionStats()
    partials: list[pl.DataFrame] = []
    counts = {"sessions_zeek": 0, "sessions_flow": 0, "validated_flows": 0}

    def take(sessions: pl.DataFrame, source: str) -> None:
        nonlocal partials
        out.chunks += 1
        counts[f"sessions_{source}"] += sessions.height
        stats.add(sessions)
        partials = [merge_partials([*partials, unknown_partials(sessions)])]
        sink(sessions)
        memory.check_budget(STEP)

    if has_conn:
        conn_columns = INPUT_COLUMNS["conn"]
        for conn in iter_partition(lake, "validated", "conn", day, conn_columns, rows) or ():
            out.conn_rows += conn.height
            take(categorise_chunk(conn, lookups, reference=reference), "zeek")
    if has_flows:
        # A connection's flow records may lie anywhere in the day (two directions, timeout
        # pieces): they are merged bucket by bucket of connection keys, the sessions handed
        # on in start order and categorised in chunks like conn.
        records = iter_partition(lake, "validated", "flows", day, FLOW_INPUT_COLUMNS, rows)
        merged = DaySessions(records or (), day, rows)
        for sessions in merged:
            take(categorise_chunk(sessions, lookups, reference=reference), "flow")
        counts["validated_flows"] = merged.records_read
    if out.chunks == 0:  # an empty day still gets its (empty, typed) partition
        sink(_empty_sessions())
    out.stats = stats.result()
    out.sources = counts
    out.unknown = unknown_from_partials(
        merge_partials(partials) if partials else unknown_partials(_empty_sessions())
    )
    return out


def _empty_sessions() -> pl.DataFrame:
    from assets.categorised.sessions import SESSIONS_SCHEMA

    return pl.DataFrame(schema=SESSIONS_SCHEMA)


# Rows of sessions (only the columns the suite reads, ~140 bytes a row) gathered before
# Great Expectations runs on them: GE's cost is mostly per run.
AUDIT_BYTES_PER_ROW = 200
SUITE = "categorised.sessions"


@dataclass
class StagedDay:
    """A day categorised into a staged (unpublished) sessions partition and its suite's
    verdict on the same chunks: publish `writer` if `outcome` passed, discard it otherwise."""

    result: CategorisedDay
    writer: PartitionWriter
    outcome: SuiteOutcome


def stage_day(
    lake: Lake, day: dt.date, reference: Reference, *, rows: int | None = None
) -> StagedDay | None:
    """`categorise_day` with each sessions chunk written as row groups of the staged partition
    and audited as it comes; None (nothing staged) when the day cannot be built. The
    partition's lock is held from here to the publish or discard."""
    from assets.categorised.day_inputs import day_sources
    from assets.categorised.sessions import SESSIONS_SCHEMA
    from assets.publishing import audit_columns
    from assets.quality.chunked import ChunkAudit

    if day_sources(lake, day)[2] is not None:
        return None
    rows = rows or chunk_rows()
    read = audit_columns(SUITE, SESSIONS_SCHEMA)
    audit_rows = max(rows, memory.chunk_rows(AUDIT_BYTES_PER_ROW, share=0.03))
    audit = ChunkAudit(SUITE, day.isoformat(), audit_rows, SESSIONS_SCHEMA)
    writer = lake.partition_writer("categorised", "sessions", day, SESSIONS_SCHEMA, rows)

    def sink(sessions: pl.DataFrame) -> None:
        writer.write(sessions)
        # the suite reads only `read`: the other columns are named (the column-set check)
        # but hold no values
        audit.add(
            sessions.select(
                pl.col(c) if c in read else pl.lit(None, dtype=pl.Null).alias(c)
                for c in SESSIONS_SCHEMA
            )
        )

    try:
        result = categorise_day(lake, day, reference, sink, rows=rows)
        if result is None:  # an input vanished since the check
            writer.discard()
            return None
        writer.finish()
        outcome = audit.outcome(lambda columns: writer.iter_staged(columns))
    except BaseException:
        writer.discard()
        raise
    return StagedDay(result, writer, outcome)
