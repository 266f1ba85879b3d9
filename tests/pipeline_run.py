"""Run hermit's Dagster job in-process for tests (a real Dagster instance, real files)."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from assets.core.resources import LakeResource
from workflows.definitions import build_definitions


def run_days(
    lake_root: str,
    start: dt.date,
    end: dt.date | None = None,
    *,
    raw_root: str = "",
    instance: dg.DagsterInstance | None = None,
    raise_on_error: bool = True,
    lateness_days: int = 1,
) -> dg.ExecuteInProcessResult:
    """Materialise every partitioned layer for [start, end] in ONE run (a single-run backfill)."""
    end = end or start
    defs = build_definitions(
        lake=LakeResource(root=lake_root, raw_root=raw_root, lateness_days=lateness_days)
    )
    job = defs.resolve_job_def("daily_pipeline")
    tags = {
        "dagster/asset_partition_range_start": start.isoformat(),
        "dagster/asset_partition_range_end": end.isoformat(),
    }
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        tags=tags,
        raise_on_error=raise_on_error,
    )
