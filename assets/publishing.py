"""Write-audit-publish for one layer step: audit each day with its Great Expectations suites
in memory, publish only the days that pass, and report the outcome to Dagster.

A blocking asset check fires after its asset has written; auditing before the write keeps
unchecked data out of the lake, so readers (BI tools, the next layer) only ever see checked
partitions. In a range run every day is judged on its own: good days are published and
recorded as materialised, a bad day is not published, and the step then fails naming it.

A streamed output (a day written chunk by chunk) comes staged in a `PartitionWriter` with its
verdict already reached on its chunks (`quality.chunked.ChunkAudit`): the step publishes or
discards it by that verdict, like a held frame.

Great Expectations costs about the same per validation whatever the rows, so a range run
audits many days of a table in one validation (`ge_runner.validate_days`, exact per-day
outcomes): `add_day` holds a day's frames until its batch is audited (when the held rows reach
`batch_rows`, or at `results()`), then publishes each day that passed.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings as warnings_module
from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
import polars as pl

from assets.core.partitions import DAILY
from assets.lake import Lake, PartitionWriter

SUITE_CHECK = "great_expectations_suite"
WARN_CHECK = "great_expectations_warnings"
VOLUME_CHECK = "raw_volume"
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
    frame: pl.DataFrame | None  # None for a streamed output (see `staged`)
    suite: str | None
    metadata: dict = field(default_factory=dict)
    findings: dict[str, Finding] = field(default_factory=dict)  # check name -> verdict
    # a streamed output: the partition staged chunk by chunk, and its suite's verdict on
    # those chunks (a ge_runner.SuiteOutcome); published or discarded by that verdict
    staged: PartitionWriter | None = None
    outcome: object | None = None

    @property
    def rows(self) -> int:
        if self.staged is not None:
            return self.staged.rows
        return 0 if self.frame is None else self.frame.height


@dataclass
class Finding:
    """The verdict of a non-GE check on one day (e.g. missing or short raw input)."""

    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)


@dataclass
class _Verdict:
    """One table's audit outcome for one day."""

    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Finding] = field(default_factory=dict)


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
        self.verdicts: dict[dg.AssetKey, dict[str, _Verdict]] = {k: {} for k in keys}
        self.failed_days: list[str] = []
        self.reasons: dict[str, str] = {}  # failed day -> why, in a few words
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
        rows = sum(o.rows for o in outputs)
        if self._held and self._held_rows + rows > self.batch_rows:
            self.flush()
        self._held.append((day, outputs))
        self._held_rows += rows
        # a staged day holds its partitions' locks: concluded at once
        if self._held_rows >= self.batch_rows or any(o.staged for o in outputs):
            self.flush()

    def skip_day(self, day: dt.date, reason: str) -> None:
        """Record `day` as not published for a reason found before auditing (an input partition
        missing, raw input gone); its published partitions stay as they are, the step goes on
        with the other days and fails at the end naming it."""
        iso = day.isoformat()
        self.failed_days.append(iso)
        self.reasons[iso] = reason
        for key in self.keys:
            self.verdicts[key].setdefault(iso, _Verdict()).failures.append(reason)
        self.context.log.error(f"{day}: not published: {reason}")

    fail_day = skip_day

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
                if out.outcome is not None:
                    outcomes[i][out.key] = out.outcome
                elif out.suite:
                    tables.setdefault((out.key, out.suite), []).append((i, out))
        for (key, suite), items in tables.items():
            results = validate_days([(held[i][0].isoformat(), o.frame) for i, o in items], suite)
            for (i, _), outcome in zip(items, results, strict=True):
                outcomes[i][key] = outcome
        for (day, outputs), day_outcomes in zip(held, outcomes, strict=True):
            self._conclude_day(day, outputs, day_outcomes)

    def _conclude_day(self, day: dt.date, outputs: list[Output], outcomes: dict) -> bool:
        iso = day.isoformat()
        for out in outputs:
            verdict = self.verdicts[out.key].setdefault(iso, _Verdict())
            verdict.extra.update(out.findings)
            outcome = outcomes.get(out.key)
            for f in outcome.failed if outcome else ():
                if f.get("severity") == "warning":
                    verdict.warnings.append(f"{f.get('expectation')} {f.get('column')}")
        failed = {k: o for k, o in outcomes.items() if not o.success}
        if failed:
            self.failed_days.append(iso)
            self.reasons[iso] = "Great Expectations failed for " + ", ".join(
                k.to_user_string() for k in failed
            )
            for k, o in failed.items():
                self.verdicts[k][iso].failures.append(o.summary())
            self.context.log.error(
                f"{day}: not published, Great Expectations failed:\n"
                + "\n".join(o.summary() for o in failed.values())
            )
            for out in outputs:
                if out.staged is not None:
                    out.staged.discard()
            return False
        # a table and its companions (e.g. its quarantine) are published under one lock
        with self.lake.lock_partitions([(o.zone, o.table, day) for o in outputs]):
            for out in outputs:
                if out.staged is not None:
                    out.staged.publish()
                else:
                    assert out.frame is not None
                    self.lake.write_partition(out.zone, out.table, day, out.frame)
        self.published.append((iso, outputs))
        return True

    def _day_metadata(self, out: Output, day: str) -> dict:
        """What a partition's materialisation shows: its own rows, counts and location."""
        meta = {
            "dagster/row_count": out.rows,
            "dagster/uri": self.lake.url(out.zone, out.table, f"date={day}", "part-0.parquet"),
        }
        meta.update(_scalar(out.metadata))
        return meta

    def _log_published(self) -> None:
        """One AssetMaterialization per published day (when the step as a whole fails)."""
        for day, outputs in self.published:
            for out in outputs:
                self.context.log_event(
                    dg.AssetMaterialization(
                        asset_key=out.key, partition=day, metadata=self._day_metadata(out, day)
                    )
                )

    def results(self) -> Iterator[dg.MaterializeResult | dg.Output | dg.AssetCheckEvaluation]:
        """Dagster events for the step: one materialisation per published day and table with
        that day's own metadata, and one check evaluation per audited day; raises Failure (after
        recording the good days) if a day failed its audit."""
        self.flush()
        self._reported = True
        if self.failed_days:
            self._log_published()
            yield from self._check_events()
            raise dg.Failure(
                description=(
                    "not published: "
                    + "; ".join(f"{d} ({self.reasons[d]})" for d in sorted(self.failed_days))
                    + ". The other days were."
                ),
                metadata={"failed_partitions": self.failed_days},
            )
        for day, outputs in self.published:
            for out in outputs:
                self.context.add_asset_metadata(
                    self._day_metadata(out, day), asset_key=out.key, partition_key=day
                )
        for key in self.keys:
            yield dg.MaterializeResult(asset_key=key)
        yield from self._check_events()

    def _check_events(self) -> Iterator[dg.Output | dg.AssetCheckEvaluation]:
        """Each check's output (so blocking checks gate the steps after it) and its verdict for
        every audited day, as a partitioned evaluation: the UI shows each day's own result."""
        assets_def = self.context.assets_def
        for key in self.keys:
            for check in self.checked.get(key, ()):
                check_key = dg.AssetCheckKey(key, check)
                yield dg.Output(None, assets_def.get_output_name_for_asset_check_key(check_key))
                for day in sorted(self.verdicts[key]):
                    yield self._evaluation(key, check, day)

    def _evaluation(self, key: dg.AssetKey, check: str, day: str) -> dg.AssetCheckEvaluation:
        verdict = self.verdicts[key][day]
        if check == SUITE_CHECK:
            passed, meta = not verdict.failures, {"failures": "\n".join(verdict.failures) or "none"}
            severity = dg.AssetCheckSeverity.ERROR
        elif check == WARN_CHECK:
            passed, meta = not verdict.warnings, {"warnings": "\n".join(verdict.warnings) or "none"}
            severity = dg.AssetCheckSeverity.WARN
        else:
            extra = verdict.extra.get(check)
            passed = extra is None or extra.passed
            meta = {"finding": extra.description if extra else "not evaluated"}
            meta.update(extra.metadata if extra else {})
            severity = dg.AssetCheckSeverity.WARN
        return dg.AssetCheckEvaluation(
            asset_key=key,
            check_name=check,
            passed=passed,
            partition=day,
            severity=severity,
            blocking=check == SUITE_CHECK,
            metadata=meta,
            description=None if passed else meta.get("failures", meta.get("finding")),
        )


def audit_columns(suite: str, columns) -> list[str]:
    """The columns of `columns` that suite `suite` reads: all an audit needs of a table
    written chunk by chunk."""
    from assets.quality.suites import load_suite_json, referenced_columns

    read = referenced_columns(load_suite_json(suite))
    return [c for c in columns if c in read]


def _scalar(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if isinstance(v, int | float | str | bool)}


def check_specs(
    key: dg.AssetKey, *, warnings: bool = False, volume: bool = False
) -> list[dg.AssetCheckSpec]:
    """The checks a layer asset reports, each evaluated per daily partition: a blocking
    Great Expectations suite check, optionally a non-blocking one for its WARN-level
    expectations, and optionally a non-blocking one for missing or short raw input."""
    specs = [
        _spec(
            SUITE_CHECK,
            key,
            blocking=True,
            description="The table's Great Expectations suite (expectations/); ERROR-level "
            "failures keep the partition unpublished and block the layers above.",
        )
    ]
    if warnings:
        specs.append(
            _spec(
                WARN_CHECK,
                key,
                description="WARN-level expectations of the suite (e.g. the share of unknown "
                "traffic); they never block.",
            )
        )
    if volume:
        specs.append(
            _spec(
                VOLUME_CHECK,
                key,
                description="Raw input for the day: fails (WARN) when the day had no raw files, "
                "or far fewer records than its recent days (a dead or failing sensor).",
            )
        )
    return specs


def _spec(name: str, key: dg.AssetKey, **kw) -> dg.AssetCheckSpec:
    with warnings_module.catch_warnings():
        # partitioned check specs are a preview feature of Dagster 1.13; hermit relies on them
        # for per-day verdicts and pins the dagster release
        warnings_module.simplefilter("ignore")
        return dg.AssetCheckSpec(name, asset=key, partitions_def=DAILY, **kw)
