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
import os
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import polars as pl
import pyarrow.parquet as pq

from assets.categorised.lookups import DayLookups, LookupBuilder
from assets.categorised.sessions import INPUT_COLUMNS, categorise_chunk
from assets.categorised.stats import SessionStats
from assets.categorised.unknown import merge_partials, unknown_from_partials, unknown_partials
from assets.lake import PART, Lake
from assets.reference.loaders import Reference

# Conn rows categorised at once. A chunk's working set is about 1 KiB a row (the joins of
# categorisation widen each row to ~60 columns before the final select), so 250k rows stay
# near 250 MiB beside the lookups. HERMIT_CATEGORISE_CHUNK_ROWS overrides it.
CHUNK_ROWS = 250_000


def chunk_rows() -> int:
    return int(os.environ.get("HERMIT_CATEGORISE_CHUNK_ROWS") or CHUNK_ROWS)


def iter_partition(
    lake: Lake, zone: str, table: str, day: dt.date, columns: tuple[str, ...], rows: int
) -> Iterator[pl.DataFrame] | None:
    """The partition's rows in order, `rows` at a time (only `columns`, those it has), from
    one open file; None when the partition was never written."""
    path = posixpath.join(lake.partition_dir(zone, table, day), PART)
    if not lake.fs.exists(path):
        return None

    def chunks() -> Iterator[pl.DataFrame]:
        with lake.fs.open(path, "rb") as fh:
            parquet = pq.ParquetFile(fh)
            present = [c for c in columns if c in parquet.schema_arrow.names]
            for batch in parquet.iter_batches(batch_size=rows, columns=present):
                yield pl.from_arrow(batch)  # type: ignore[misc]

    return chunks()


@dataclass
class CategorisedDay:
    """What a day's run produced beside the session rows (which went to the sink)."""

    conn_rows: int = 0
    chunks: int = 0
    stats: dict = field(default_factory=dict)
    unknown: pl.DataFrame | None = None
    lookup_bytes: int = 0


def day_lookups(lake: Lake, day: dt.date, rows: int) -> DayLookups:
    """The lookups of `day`: its ssl and http, and the dns of the previous day and the day."""
    builder = LookupBuilder()
    for table, days, add in (
        ("dns", [day - dt.timedelta(days=1), day], builder.add_dns),
        ("ssl", [day], builder.add_ssl),
        ("http", [day], builder.add_http),
    ):
        for d in days:
            for chunk in (
                iter_partition(lake, "validated", table, d, INPUT_COLUMNS[table], rows) or ()
            ):
                add(chunk)
    return builder.build()


def categorise_day(
    lake: Lake,
    day: dt.date,
    reference: Reference,
    sink: Callable[[pl.DataFrame], None],
    *,
    rows: int | None = None,
) -> CategorisedDay | None:
    """Categorise validated conn of `day` chunk by chunk, passing each sessions chunk to
    `sink` in conn order; None when validated/conn has no partition for `day`."""
    rows = rows or chunk_rows()
    conn_chunks = iter_partition(lake, "validated", "conn", day, INPUT_COLUMNS["conn"], rows)
    if conn_chunks is None:
        return None
    lookups = day_lookups(lake, day, rows)
    out = CategorisedDay(lookup_bytes=lookups.estimated_bytes)
    stats = SessionStats()
    partials: list[pl.DataFrame] = []
    for conn in conn_chunks:
        sessions = categorise_chunk(conn, lookups, reference=reference)
        out.conn_rows += conn.height
        out.chunks += 1
        stats.add(sessions)
        partials = [merge_partials([*partials, unknown_partials(sessions)])]
        sink(sessions)
        del sessions
    if out.chunks == 0:  # an empty day still gets its (empty, typed) partition
        sink(_empty_sessions())
    out.stats = stats.result()
    out.unknown = unknown_from_partials(
        merge_partials(partials) if partials else unknown_partials(_empty_sessions())
    )
    return out


def _empty_sessions() -> pl.DataFrame:
    from assets.categorised.sessions import SESSIONS_SCHEMA

    return pl.DataFrame(schema=SESSIONS_SCHEMA)
