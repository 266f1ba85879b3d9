"""Write-audit-publish for one layer step: audit each day with its Great Expectations suites
in memory, publish only the days that pass, and report the outcome to Dagster.

A blocking asset check fires after its asset has written; auditing before the write keeps
unchecked data out of the lake, so readers (BI tools, the next layer) only ever see checked
partitions. In a range run every day is judged on its own: good days are published and
recorded as materialised, a bad day is not published, and the step then fails naming it.

Great Expectations costs about the same per validation whatever the rows, so a range run
audits many days of a table in one validation (`ge_runner.validate_days`, exact per-day
outcomes): `add_day` holds a day's frames until its batch is audited (when the held rows reach
`batch_rows`, or at `results()`), then publishes each day that passed.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
import polars as pl

from assets.lake import Lake

SUITE_CHECK = "great_expectations_suite"
WARN_CHECK = "great_expectations_warnings"
# Rows (all outputs of all held days) audited in one batch: bounds the frames held in memory.
BATCH_ROWS = int(os.environ.get("HERMIT_AUDIT_BATCH_ROWS", "2000000"))


def partition_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The UTC days this step covers (one for a daily run, many for a single-run backfill)."""
    window = context.partition_time_window
    days, day = [], window.start.date()
    while day < window.end.date():
        days.append(day)
        day += dt.timedelta(days=1)
    return days


@dataclass
class Output:
    """One table of one day, ready to be audited and written."""

    key: dg.AssetKey
    zone: str
    table: str
    frame: pl.DataFrame
    suite: str | None
    metadata: dict = field(default_factory=dict)


@dataclass
class _KeyState:
    days: list[str] = field(default_factory=list)
    rows: int = 0
    per_day: list[dict] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sums: dict = field(default_factory=dict)


class LayerStep:
    """Collects the per-day outcomes of one layer step and turns them into Dagster events.

    Use it as a context manager around the day loop: if the loop raises, the days already
    added are still audited, the good ones published and recorded, before the error goes on.
    """

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        lake: Lake,
        keys: list[dg.AssetKey],
        checked: dict[dg.AssetKey, tuple[str, ...]],
        *,
        batch_rows: int | None = None,
    ):
        self.context = context
        self.lake = lake
        self.keys = keys
        self.checked = checked  # asset key -> the check names it declares
        self.batch_rows = BATCH_ROWS if batch_rows is None else batch_rows
        self.state = {k: _KeyState() for k in keys}
        self.failed_days: list[str] = []
        self.published: list[tuple[str, list[Output]]] = []
        self._held: list[tuple[dt.date, list[Output]]] = []
        self._held_rows = 0
        self._reported = False  # results() ran (it reports the published days itself)

    def __enter__(self) -> LayerStep:
        removed = self.lake.clean_stale_locks()
        if removed:
            self.context.log.warning(f"removed {len(removed)} stale lock file(s): {removed}")
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and issubclass(exc_type, Exception) and not self._reported:
            self.flush()
            self._log_published()

    def add_day(self, day: dt.date, outputs: list[Output]) -> None:
        """Hold `day`'s outputs for a batched audit; they are written once it passed.

        A day that would take the held rows past `batch_rows` first flushes the others, so a
        day bigger than the budget is audited alone.
        """
        rows = sum(o.frame.height for o in outputs)
        if self._held and self._held_rows + rows > self.batch_rows:
            self.flush()
        self._held.append((day, outputs))
        self._held_rows += rows
        if self._held_rows >= self.batch_rows:
            self.flush()

    def fail_day(self, day: dt.date, message: str) -> None:
        """Record `day` as failed without publishing anything for it (its published
        partitions stay as they are); the step fails at the end, naming it."""
        self.failed_days.append(day.isoformat())
        for key in self.keys:
            self.state[key].failures.append(message)
        self.context.log.error(f"{day}: not published: {message}")

    def publish_day(self, day: dt.date, outputs: list[Output]) -> bool:
        """Audit every output of `day` now (with any held days); write them all only if none
        fails an ERROR expectation. True if `day` was published."""
        self.add_day(day, outputs)
        self.flush()
        return bool(self.published) and self.published[-1][0] == day.isoformat()

    def flush(self) -> None:
        """Audit the held days, one Great Expectations validation per table, and publish each
        day whose outputs all passed."""
        from assets.quality.ge_runner import validate_days

        held, self._held, self._held_rows = self._held, [], 0
        if not held:
            return
        outcomes: list[dict] = [{} for _ in held]
        tables: dict[tuple[dg.AssetKey, str], list[tuple[int, Output]]] = {}
        for i, (_, outputs) in enumerate(held):
            for out in outputs:
                if out.suite:
                    tables.setdefault((out.key, out.suite), []).append((i, out))
        for (key, suite), items in tables.items():
            results = validate_days([(held[i][0].isoformat(), o.frame) for i, o in items], suite)
            for (i, _), outcome in zip(items, results, strict=True):
                outcomes[i][key] = outcome
        for (day, outputs), day_outcomes in zip(held, outcomes, strict=True):
            self._conclude_day(day, outputs, day_outcomes)

    def _conclude_day(self, day: dt.date, outputs: list[Output], outcomes: dict) -> bool:
        failed = {k: o for k, o in outcomes.items() if not o.success}
        for k, o in outcomes.items():
            for f in o.failed:
                if f.get("severity") == "warning":
                    self.state[k].warnings.append(
                        f"{day}: {f.get('expectation')} {f.get('column')}"
                    )
        if failed:
            self.failed_days.append(day.isoformat())
            for k, o in failed.items():
                self.state[k].failures.append(o.summary())
            self.context.log.error(
                f"{day}: not published, Great Expectations failed:\n"
                + "\n".join(o.summary() for o in failed.values())
            )
            return False
        # a table and its companions (e.g. its quarantine) are published under one lock
        with self.lake.lock_partitions([(o.zone, o.table, day) for o in outputs]):
            for out in outputs:
                self.lake.write_partition(out.zone, out.table, day, out.frame)
        for out in outputs:
            st = self.state[out.key]
            st.days.append(day.isoformat())
            st.rows += out.frame.height
            st.per_day.append({"date": day.isoformat(), "rows": out.frame.height, **out.metadata})
            for name, value in out.metadata.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    st.sums[name] = st.sums.get(name, 0) + value
        self.published.append((day.isoformat(), outputs))
        return True

    def _log_published(self) -> None:
        """One AssetMaterialization per published day (when the step as a whole fails)."""
        for day, outputs in self.published:
            for out in outputs:
                self.context.log_event(
                    dg.AssetMaterialization(
                        asset_key=out.key,
                        partition=day,
                        metadata={"rows": out.frame.height, **_scalar(out.metadata)},
                    )
                )

    def results(self) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        """Dagster events for the step; raises Failure (after recording the good days) if a day
        failed its audit."""
        self.flush()
        self._reported = True
        if self.failed_days:
            self._log_published()
            for key in self.keys:
                for check in self._checks(key):
                    yield self._check_result(key, check)
            raise dg.Failure(
                description=(
                    f"{', '.join(self.failed_days)} not published (Great Expectations failed, or"
                    " the raw input is gone; see the step's log); the other days were.\n"
                    + "\n".join(dict.fromkeys(f for k in self.keys for f in self.state[k].failures))
                ),
                metadata={"failed_partitions": self.failed_days},
            )
        for key in self.keys:
            st = self.state[key]
            meta: dict = {"rows": st.rows, "partitions": len(st.days)}
            meta.update({k: v for k, v in st.sums.items()})
            if len(st.per_day) > 1:
                meta["per_partition"] = dg.MetadataValue.md(_md_table(st.per_day))
            elif st.per_day:
                meta.update(_scalar(st.per_day[0]))
            if st.per_day and st.rows:
                meta["path"] = self.lake.url(key.path[0], key.path[-1])
            checks = [self._check_result(key, c) for c in self._checks(key)]
            yield dg.MaterializeResult(asset_key=key, metadata=meta, check_results=checks)

    def _checks(self, key):
        return self.checked.get(key, ())

    def _check_result(self, key: dg.AssetKey, check: str) -> dg.AssetCheckResult:
        st = self.state[key]
        if check == WARN_CHECK:
            return dg.AssetCheckResult(
                asset_key=key,
                check_name=check,
                passed=not st.warnings,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"warnings": "\n".join(st.warnings) or "none"},
            )
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=check,
            passed=not st.failures,
            metadata={
                "failed_partitions": ", ".join(self.failed_days) or "none",
                "failures": "\n".join(st.failures) or "none",
                "checked_partitions": len(st.days) + len(self.failed_days),
            },
        )


def _scalar(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if isinstance(v, int | float | str | bool)}


def _md_table(rows: list[dict]) -> str:
    cols = list(dict.fromkeys(c for r in rows for c in r if isinstance(r[c], int | float | str)))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def check_specs(key: dg.AssetKey, *, warnings: bool = False) -> list[dg.AssetCheckSpec]:
    """The Great Expectations checks a layer asset reports: a blocking suite check, and
    optionally a non-blocking one for WARN-level expectations."""
    specs = [
        dg.AssetCheckSpec(
            SUITE_CHECK,
            asset=key,
            blocking=True,
            description="The table's Great Expectations suite (expectations/); ERROR-level "
            "failures keep the partition unpublished and block the layers above.",
        )
    ]
    if warnings:
        specs.append(
            dg.AssetCheckSpec(
                WARN_CHECK,
                asset=key,
                description="WARN-level expectations of the suite (e.g. the share of unknown "
                "traffic); they never block.",
            )
        )
    return specs
