"""Backfills from the command line: run the daily pipeline over a date range through a real
Dagster instance (so every run shows in the UI), with a progress bar and a per-layer summary.

engine="daemon" (what `hermit materialize` and the demo use) submits a real asset backfill to
the instance: the UI's Backfills tab lists it, the run queue's limits and the lake pool apply,
and the daemon runs each layer over the range in one run. A day that fails its audit is not
published and the good days are; Dagster then marks the whole range of the layers above as
failed (a single-run backfill fails as one unit), so hermit submits a follow-up backfill for
what is still runnable, until a round makes no progress.

engine="in_process" runs the job in this process (tests, custom definitions): one run per day
by default, oldest first. A day that fails is recorded with its reason
and the backfill goes on with the next day: every partition is computed from raw files and
earlier partitions only, and is published atomically, so a failed day leaves its old version
(or nothing) in the lake and cannot corrupt or block the others. The summary names the failed
days; re-run just those (`hermit materialize --start D --end D`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import dagster as dg
from rich.console import Console

from assets.core.keys import JOB_NAME
from assets.core.partitions import DAILY
from workflows.backfill_summary import BackfillSummary, RunOutcome, _layers, _progress
from workflows.run_sweep import fail_dead_runs, owner_tags

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def materialize_range(
    start: dt.date | str,
    end: dt.date | str,
    *,
    lake_root: str | None = None,
    per_day: bool = True,
    selection: Sequence[str | dg.AssetKey] | None = None,
    progress: bool = True,
    instance: dg.DagsterInstance | None = None,
    definitions: dg.Definitions | None = None,
    console: Console | None = None,
    engine: str = "in_process",
) -> BackfillSummary:
    """Materialise the daily pipeline for every day start..end (inclusive).

    engine: "daemon" (a real backfill, executed by the instance's daemon, started here if none
    runs) or "in_process".

    per_day: one run per day (a bad day fails alone), else one run for the range (the assets'
    single-run backfill policy). selection: asset keys ("validated/conn") to limit the run to.
    instance: default workflows.instance.get_instance(). definitions: default hermit's own.
    """
    start, end = _as_date(start), _as_date(end)
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    keys = DAILY.get_partition_keys_in_range(
        dg.PartitionKeyRange(start.isoformat(), end.isoformat())
    )
    if not keys or keys[0] != start.isoformat() or keys[-1] != end.isoformat():
        raise ValueError(f"{start}..{end} is outside the daily partitions {DAILY.start.date()}..")

    if definitions is None:
        from workflows.definitions import build_definitions

        definitions = build_definitions()
    if instance is None:
        from workflows.instance import get_instance

        instance = get_instance()
    fail_dead_runs(instance)
    job = definitions.resolve_job_def(JOB_NAME)
    console = console or Console()
    lake = _lake_for(definitions, lake_root)
    run_config: dict = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    if lake_root:
        run_config["resources"] = {"lake": {"config": {"root": lake_root}}}
    asset_selection = (
        [dg.AssetKey.from_user_string(s) if isinstance(s, str) else s for s in selection]
        if selection
        else None
    )
    if engine == "daemon":
        from workflows.daemon_backfill import backfill_via_daemon

        return backfill_via_daemon(
            start,
            end,
            keys,
            lake_root=lake_root,
            selection=asset_selection,
            progress=progress,
            instance=instance,
            definitions=definitions,
            console=console,
            lake=lake,
        )
    if engine != "in_process":
        raise ValueError(f"engine {engine!r}: expected 'daemon' or 'in_process'")
    backfill_id = uuid.uuid4().hex[:8]
    tags = {"hermit/trigger": "backfill", "hermit/backfill": backfill_id, **owner_tags()}

    if per_day:
        batches = [(k, {}) for k in keys]
    else:
        batches = [(None, {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]})]
    runs: list[RunOutcome] = []
    with _progress(console, progress, len(batches)) as advance:
        for partition_key, range_tags in batches:
            label = partition_key or f"{keys[0]}...{keys[-1]}"
            advance(label, None)
            result = job.execute_in_process(
                run_config=run_config,
                instance=instance,
                partition_key=partition_key,
                raise_on_error=False,
                asset_selection=asset_selection,
                tags={**tags, **range_tags},
            )
            outcome = _outcome(label, result)
            runs.append(outcome)
            advance(label, outcome.success)

    planned = asset_selection or sorted(job.asset_layer.executable_asset_keys)
    summary = BackfillSummary(start, end, backfill_id, runs, _layers(lake, runs, keys, planned))
    if progress:
        summary.print(console)
    return summary


def _as_date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _lake_for(definitions: dg.Definitions, lake_root: str | None):
    from assets.core.resources import LakeResource

    resource = (definitions.resources or {}).get("lake")
    if not isinstance(resource, LakeResource):
        resource = LakeResource()
    if lake_root:
        resource = LakeResource(root=lake_root)
    return resource.get()


def _outcome(label: str, result: dg.ExecuteInProcessResult) -> RunOutcome:
    failures = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        reason = None
        if data.user_failure_data is not None:
            reason = data.user_failure_data.description
        if not reason and data.error is not None:
            reason = _root_cause(data.error)
        failures.append((event.step_key or "?", reason or "failed"))
    if not result.success and not failures:
        run_failure = [e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"]
        failures.append(("run", run_failure[0].message if run_failure else "run failed"))
    materialized: dict[str, set[str]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        if mat is not None and mat.partition:
            materialized.setdefault(mat.asset_key.to_user_string(), set()).add(mat.partition)
    return RunOutcome(label, result.run_id, result.success, failures, materialized)


def _root_cause(error) -> str | None:
    """The innermost error's first line: Dagster wraps user errors in its own."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    lines = (error.message or "").strip().splitlines()
    return lines[0] if lines else getattr(error, "cls_name", None)
