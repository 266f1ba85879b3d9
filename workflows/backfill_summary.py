"""What a backfill did: its runs, the rows each layer wrote, and a progress bar while it runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg
from rich.console import Console
from rich.table import Table

LAYERS = ("validated", "quarantine", "categorised", "reporting")


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
