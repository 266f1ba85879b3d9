"""Write-audit-publish for one layer step: audit each day with its Great Expectations suites
in memory, publish only the days that pass, and report the outcome to Dagster.

A blocking asset check fires after its asset has written; auditing before the write keeps
unchecked data out of the lake, so readers (BI tools, the next layer) only ever see checked
partitions. In a range run every day is judged on its own: good days are published and
recorded as materialised, a bad day is not published, and the step then fails naming it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
import polars as pl

from assets.lake import Lake

SUITE_CHECK = "great_expectations_suite"
WARN_CHECK = "great_expectations_warnings"


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
    """Collects the per-day outcomes of one layer step and turns them into Dagster events."""

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        lake: Lake,
        keys: list[dg.AssetKey],
        checked: dict[dg.AssetKey, tuple[str, ...]],
    ):
        self.context = context
        self.lake = lake
        self.keys = keys
        self.checked = checked  # asset key -> the check names it declares
        self.state = {k: _KeyState() for k in keys}
        self.failed_days: list[str] = []
        self.published: list[tuple[str, list[Output]]] = []

    def publish_day(self, day: dt.date, outputs: list[Output]) -> bool:
        """Audit every output of `day`; write them all only if none fails an ERROR expectation."""
        from assets.quality.ge_runner import validate_frame

        outcomes = {}
        for out in outputs:
            if out.suite:
                outcomes[out.key] = validate_frame(out.frame, out.suite, partition=day.isoformat())
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

    def results(self) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        """Dagster events for the step; raises Failure (after recording the good days) if a day
        failed its audit."""
        if self.failed_days:
            for day, outputs in self.published:
                for out in outputs:
                    self.context.log_event(
                        dg.AssetMaterialization(
                            asset_key=out.key,
                            partition=day,
                            metadata={"rows": out.frame.height, **_scalar(out.metadata)},
                        )
                    )
            for key in self.keys:
                for check in self._checks(key):
                    yield self._check_result(key, check)
            raise dg.Failure(
                description=(
                    f"Great Expectations failed for {', '.join(self.failed_days)}; those days were"
                    " not published (the other days were)."
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
