"""`hermit materialize` through the Dagster daemon: observe the inputs, submit an asset backfill,
follow it with a progress bar per day, and submit follow-up rounds for what a failed day held
up (see workflows/backfill.py for the policy)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import dagster as dg
from rich.console import Console

from assets.core.keys import JOB_NAME, RAW_FLOWS, RAW_ZEEK, REFERENCE_KEYS
from workflows.asset_backfill import (
    backfill_runs,
    backfill_targets,
    follow_backfill,
    submit_backfill,
)
from workflows.backfill import RANGE_END_TAG, RANGE_START_TAG, _root_cause
from workflows.backfill_summary import BackfillSummary, RunOutcome, _layers, _progress
from workflows.daemon import ensure_daemon

MAX_ROUNDS = 4  # one per layer, and one to spare


def backfill_via_daemon(
    start: dt.date,
    end: dt.date,
    days: Sequence[str],
    *,
    lake_root: str | None,
    selection: Sequence[dg.AssetKey] | None,
    progress: bool,
    instance: dg.DagsterInstance,
    definitions: dg.Definitions,
    console: Console,
    lake,
) -> BackfillSummary:
    run_config: dict = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    if lake_root:
        run_config["resources"] = {"lake": {"config": {"root": lake_root}}}
    _observe_inputs(instance, definitions, lake_root)
    targets = list(selection or backfill_targets(definitions, JOB_NAME))
    remaining = {(k, d) for k in targets for d in days}
    done_days: set[str] = set()
    ids: list[str] = []
    env = {"HERMIT_LAKE": lake_root} if lake_root else {}
    with ensure_daemon(instance, env), _progress(console, progress, len(days)) as advance:
        for _ in range(MAX_ROUNDS):
            backfill_id = submit_backfill(
                instance,
                definitions,
                sorted(remaining, key=lambda p: (p[1], p[0].to_user_string())),
                tags={"hermit/trigger": "backfill", "hermit/range": f"{start}...{end}"},
                run_config=run_config,
                title=f"hermit materialize {start}..{end}"
                + (f" (round {len(ids) + 1})" if ids else ""),
            )
            ids.append(backfill_id)
            advance(f"backfill {backfill_id} {start}..{end}", None)

            def on_change(done, failed, remaining=remaining):
                finished = {
                    d for d in days if all((k, d) in done for k in targets if (k, d) in remaining)
                } - done_days
                for day in sorted(finished):
                    done_days.add(day)
                    advance(day, True)

            _, done, _ = follow_backfill(instance, definitions, backfill_id, on_change)
            ran_and_failed = _ran_and_failed(instance, definitions, backfill_id, done)
            left = remaining - done - ran_and_failed
            if not left or left == remaining:
                remaining = left
                break
            remaining = left
        for day in days:
            if day not in done_days:
                advance(day, False)
    runs = [_outcome(instance, r) for bid in ids for r in backfill_runs(instance, bid)]
    planned = targets
    summary = BackfillSummary(
        start, end, ",".join(ids), runs, _layers(lake, runs, list(days), planned)
    )
    if progress:
        summary.print(console)
    return summary


def _observe_inputs(instance, definitions: dg.Definitions, lake_root: str | None) -> None:
    """Record the raw zone and reference versions the backfill's partitions will be built on."""
    from assets.core.resources import LakeResource

    resources = dict(definitions.resources or {})
    if lake_root:
        resources["lake"] = LakeResource(root=lake_root)
    result = dg.materialize(
        [*definitions.assets],
        selection=[RAW_ZEEK, RAW_FLOWS, *REFERENCE_KEYS],
        resources=resources,
        instance=instance,
        tags={"hermit/trigger": "backfill"},
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )
    if not result.success:
        raise ValueError("could not observe the raw zone and reference files (see the run)")


def _step_assets(definitions: dg.Definitions) -> dict[str, set[dg.AssetKey]]:
    graph = definitions.resolve_asset_graph()
    return {ad.node_def.name: set(ad.keys) for ad in graph.assets_defs if ad.is_executable}


def _ran_and_failed(instance, definitions, backfill_id: str, done: set) -> set:
    """(asset, day) pairs whose step ran and did not publish them: retrying cannot help."""
    by_step = _step_assets(definitions)
    out = set()
    for run in backfill_runs(instance, backfill_id):
        if run.status != dg.DagsterRunStatus.FAILURE:
            continue
        first, last = run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)
        if not (first and last):
            continue
        run_days = _days_between(first, last)
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
            for key in by_step.get(record.dagster_event.step_key, ()):
                out |= {(key, d) for d in run_days if (key, d) not in done}
    return out


def _days_between(first: str, last: str) -> list[str]:
    a, b = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(a + dt.timedelta(days=i)).isoformat() for i in range((b - a).days + 1)]


def _outcome(instance: dg.DagsterInstance, run) -> RunOutcome:
    first, last = run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)
    label = f"{first}...{last}" if first and last else run.tags.get("dagster/partition", "?")
    failures = []
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        data = record.dagster_event.step_failure_data
        reason = data.user_failure_data.description if data.user_failure_data else None
        if not reason and data.error is not None:
            reason = _root_cause(data.error)
        failures.append((record.dagster_event.step_key or "?", reason or "failed"))
    materialized: dict[str, set[str]] = {}
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        mat = record.dagster_event.event_specific_data.materialization
        if mat.partition:
            materialized.setdefault(mat.asset_key.to_user_string(), set()).add(mat.partition)
    success = run.status == dg.DagsterRunStatus.SUCCESS
    return RunOutcome(label, run.run_id, success, failures, materialized)
