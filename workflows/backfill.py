"""Backfills from the command line: run the daily pipeline over a date range through a real
Dagster instance (so every run shows in the UI), with a progress bar and a per-layer summary.

Policy: one run per day by default, oldest first. A day that fails is recorded with its reason
and the backfill goes on with the next day: every partition is computed from raw files and
earlier partitions only, and is published atomically, so a failed day leaves its old version
(or nothing) in the lake and cannot corrupt or block the others. The summary names the failed
days; re-run just those (`hermit materialize --start D --end D`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg
from rich.console import Console
from rich.table import Table

from assets.core.partitions import DAILY
from workflows.run_sweep import fail_dead_runs, owner_tags

JOB_NAME = "daily_pipeline"
LAYERS = ("validated", "quarantine", "categorised", "reporting")
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass
class RunOutcome:
    """One Dagster run of the backfill (one day, or the whole range in single-run mode)."""

    partitions: str  # "2017-04-02" or "2017-04-01...2017-04-30"
    run_id: str
    success: bool
    failures: list[tuple[str, str]] = field(default_factory=list)  # (step, reason)
    materialized: dict[str, set[str]] = field(default_factory=dict)  # asset key -> days


@dataclass
class LayerRow:
    layer: str
    tables: list[str]
    partitions: int  # day x table partitions written
    rows: int
    days_missing: list[str]  # days this layer was not written (failed or skipped)


@dataclass
class BackfillSummary:
    start: dt.date
    end: dt.date
    backfill_id: str
    runs: list[RunOutcome]
    layers: list[LayerRow]

    @property
    def ok(self) -> bool:
        return all(r.success for r in self.runs)

    @property
    def failed(self) -> list[RunOutcome]:
        return [r for r in self.runs if not r.success]

    def table(self) -> Table:
        """Rows written per layer over the range."""
        t = Table(title=f"hermit backfill {self.start}..{self.end} ({self.backfill_id})")
        t.add_column("layer")
        t.add_column("tables")
        t.add_column("partitions", justify="right")
        t.add_column("rows", justify="right")
        t.add_column("days not written")
        for row in self.layers:
            t.add_row(
                row.layer,
                ", ".join(row.tables),
                str(row.partitions),
                f"{row.rows:,}",
                _days_text(row.days_missing),
            )
        return t

    def failure_table(self) -> Table:
        t = Table(title="failed runs", title_style="bold red")
        t.add_column("partitions")
        t.add_column("run id")
        t.add_column("step")
        t.add_column("reason")
        for run in self.failed:
            for step, reason in run.failures or [("?", "run failed")]:
                t.add_row(run.partitions, run.run_id[:8], step, reason)
        return t

    def print(self, console: Console | None = None) -> None:
        console = console or Console()
        console.print(self.table())
        if self.failed:
            console.print(self.failure_table())
        else:
            console.print(f"[green]{len(self.runs)} run(s) succeeded[/]")


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
) -> BackfillSummary:
    """Materialise the daily pipeline for every day start..end (inclusive).

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


class _progress:
    """A rich progress bar over the runs (or nothing when progress=False)."""

    def __init__(self, console: Console, enabled: bool, total: int):
        self.console, self.enabled, self.total = console, enabled, total
        self.failed = 0

    def __enter__(self):
        if not self.enabled:
            return lambda label, ok: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.bar.start()
        self.task = self.bar.add_task("backfill", total=self.total, status="")

        def advance(label: str, ok: bool | None) -> None:
            if ok is None:
                self.bar.update(self.task, description=f"running {label}")
                return
            if not ok:
                self.failed += 1
                self.console.log(f"[red]{label} failed[/]")
            status = f"[red]{self.failed} failed[/]" if self.failed else "[green]ok[/]"
            self.bar.update(self.task, advance=1, status=status)

        return advance

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.stop()


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


def _layers(
    lake, runs: list[RunOutcome], days: list[str], planned: Sequence[dg.AssetKey]
) -> list[LayerRow]:
    """Per layer: the tables it has, partitions written in this backfill and their rows (read
    from the Parquet footers, so the numbers are what a reader will see)."""
    done: dict[str, set[str]] = {}
    for run in runs:
        for key, parts in run.materialized.items():
            done.setdefault(key, set()).update(parts)
    layer_keys: dict[str, set[str]] = {}
    for key in planned:
        layer_keys.setdefault(key.path[0], set()).add(key.to_user_string())
    for key in done:
        layer_keys.setdefault(key.split("/")[0], set()).add(key)
    rows_out = []
    order = {name: i for i, name in enumerate(LAYERS)}
    for layer in sorted(layer_keys, key=lambda name: (order.get(name, len(order)), name)):
        keys = sorted(layer_keys[layer])
        partitions = rows = 0
        written_everywhere = set(days)
        for key in keys:
            parts = done.get(key, set())
            written_everywhere &= parts
            zone, table = key.split("/")[0], key.split("/")[-1]
            for day in parts:
                n = lake.partition_rows(zone, table, dt.date.fromisoformat(day))
                if n is not None:
                    partitions += 1
                    rows += n
        missing = [d for d in days if d not in written_everywhere]
        tables = [k.split("/", 1)[-1] for k in keys]
        rows_out.append(LayerRow(layer, tables, partitions, rows, missing))
    return rows_out


def _days_text(days: list[str]) -> str:
    if not days:
        return "-"
    if len(days) <= 4:
        return ", ".join(days)
    return f"{', '.join(days[:3])} and {len(days) - 3} more"
