"""One validated day staged in the lake as it is computed: the valid table and its
quarantine written chunk by chunk into staged partitions, each audited by its Great
Expectations suite on the same chunks. The caller publishes or discards them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from assets.lake import Lake, PartitionWriter
from assets.quality.chunked import ChunkAudit
from assets.quality.ge_runner import SuiteOutcome
from assets.validated.schemas import QUARANTINE_SCHEMA, VALIDATED_SCHEMAS
from assets.validated.transform import RawFile, default_chunk_rows, stream_partition

QUARANTINE_SUITE = "quarantine.records"


@dataclass
class StagedDay:
    valid: PartitionWriter
    quarantine: PartitionWriter
    valid_outcome: SuiteOutcome
    quarantine_outcome: SuiteOutcome
    counts: dict
    sensors: dict[str, int]  # rows (valid + quarantined) per sensor

    def discard(self) -> None:
        self.valid.discard()
        self.quarantine.discard()


class _Tee:
    """A sink that stages each chunk and shows it to the audit."""

    def __init__(self, writer: PartitionWriter, audit: ChunkAudit):
        self.writer, self.audit = writer, audit

    def write(self, df: pl.DataFrame) -> None:
        self.writer.write(df)
        self.audit.add(df)

    def outcome(self) -> SuiteOutcome:
        self.writer.finish()
        return self.audit.outcome(lambda columns: self.writer.iter_staged(columns))


def stage_day(
    lake: Lake,
    table: str,
    day: dt.date,
    files: list[RawFile],
    lateness_days: int,
    unrotated_days: int,
    *,
    chunk_rows: int | None = None,
) -> StagedDay:
    """Validate `day` of `table` into staged partitions (their locks held until publish or
    discard), with each one's suite verdict. Nothing is staged if this raises."""
    rows = chunk_rows or default_chunk_rows()
    iso = day.isoformat()
    # taken in the order lock_partitions takes them (sorted), so writers cannot deadlock
    quarantine = lake.partition_writer("quarantine", table, day, QUARANTINE_SCHEMA, rows)
    try:
        valid = lake.partition_writer("validated", table, day, VALIDATED_SCHEMAS[table], rows)
    except BaseException:
        quarantine.discard()
        raise
    try:
        valid_out = _Tee(
            valid, ChunkAudit(f"validated.{table}", iso, rows, VALIDATED_SCHEMAS[table])
        )
        quarantine_out = _Tee(
            quarantine, ChunkAudit(QUARANTINE_SUITE, iso, rows, QUARANTINE_SCHEMA)
        )
        outcome = stream_partition(
            files,
            table,
            day,
            lateness_days,
            unrotated_days,
            valid_out,
            quarantine_out,
            chunk_rows=rows,
        )
        return StagedDay(
            valid,
            quarantine,
            valid_out.outcome(),
            quarantine_out.outcome(),
            outcome.counts,
            outcome.sensors,
        )
    except BaseException:
        valid.discard()
        quarantine.discard()
        raise
