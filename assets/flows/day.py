"""One validated flows day staged in the lake as it is computed: the flows table and its
quarantine written chunk by chunk into staged partitions, each audited by its Great
Expectations suite on the same chunks, as the Zeek tables are (assets/validated/day.py).
The caller publishes or discards them."""

from __future__ import annotations

import datetime as dt

from assets.flows.schema import FLOWS_SCHEMA, QUARANTINE_SCHEMA
from assets.flows.transform import default_chunk_rows, stream_flows
from assets.lake import Lake
from assets.quality.chunked import ChunkAudit
from assets.validated.day import StagedDay, _Tee
from assets.validated.transform import RawFile

VALID_SUITE = "validated.flows"
QUARANTINE_SUITE = "quarantine.flows"


def stage_flows(
    lake: Lake,
    day: dt.date,
    files: list[RawFile],
    lateness_days: int,
    *,
    chunk_rows: int | None = None,
) -> StagedDay:
    """Validate `day` of flows into staged partitions (their locks held until publish or
    discard), with each one's suite verdict. Nothing is staged if this raises."""
    rows = chunk_rows or default_chunk_rows()
    iso = day.isoformat()
    # taken in the order lock_partitions takes them (sorted), so writers cannot deadlock
    quarantine = lake.partition_writer("quarantine", "flows", day, QUARANTINE_SCHEMA, rows)
    try:
        valid = lake.partition_writer("validated", "flows", day, FLOWS_SCHEMA, rows)
    except BaseException:
        quarantine.discard()
        raise
    try:
        valid_out = _Tee(valid, ChunkAudit(VALID_SUITE, iso, rows, FLOWS_SCHEMA))
        quarantine_out = _Tee(
            quarantine, ChunkAudit(QUARANTINE_SUITE, iso, rows, QUARANTINE_SCHEMA)
        )
        counts = stream_flows(files, day, lateness_days, valid_out, quarantine_out, chunk_rows=rows)
        return StagedDay(
            valid, quarantine, valid_out.outcome(), quarantine_out.outcome(), counts, {}
        )
    except BaseException:
        valid.discard()
        quarantine.discard()
        raise
