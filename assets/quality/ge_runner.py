"""Validate a polars frame against a Great Expectations suite stored as JSON in `expectations/`.

Importing this module is cheap: Great Expectations (seconds to import) is imported on the first
`validate_frame` call and its ephemeral context, datasource and parsed suites are cached for the
rest of the process, since one process validates many partitions.

Suites are GE 1.x suite JSON (`name`, `expectations: [{type, kwargs, meta}]`, `meta`). An
expectation's severity is `meta.severity` (or GE's own `severity` field): `error` (default;
GE's `critical`) or `warning`. Warnings are reported but never make an outcome fail.

`validate_days` judges many days of one table in one GE validation (GE's cost is mostly per
expectation, not per row) with the outcome per day that `validate_frame` gives each day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import polars as pl

from assets.quality import suites
from assets.quality.batching import DAY_KEY, ROWS, BatchPlan, batch_plan
from assets.quality.frames import _PandasSource, _to_pandas
from assets.quality.gx_engine import (
    SMALL_TABLE_ROWS,
    _column_of,
    _ge_suite,
    _gx_engine,
    _observed,
    _plain,
    _validate,
    lock,
)
from assets.quality.suites import (
    SUITES_DIR,
    columns_read,
    list_suites,
    load_suite_json,
    referenced_columns,
    severity_of,
    suite_path,
)

__all__ = [
    "DAY_KEY",
    "SMALL_TABLE_ROWS",
    "SUITES_DIR",
    "BatchPlan",
    "SuiteOutcome",
    "batch_plan",
    "list_suites",
    "load_suite_json",
    "referenced_columns",
    "severity_of",
    "suite_path",
    "validate_days",
    "validate_frame",
    # GE internals the tests and the benchmark reach for
    "_ge_suite",
    "_gx_engine",
    "_to_pandas",
    "_validate",
]

_log = logging.getLogger(__name__)


@dataclass
class SuiteOutcome:
    """The result of one suite on one frame (one table, one partition)."""

    suite: str
    success: bool
    evaluated: int
    failed: list[dict] = field(default_factory=list)
    partition: str | None = None

    @property
    def errors(self) -> list[dict]:
        return [f for f in self.failed if f["severity"] == "error"]

    @property
    def warnings(self) -> list[dict]:
        return [f for f in self.failed if f["severity"] == "warning"]

    def summary(self) -> str:
        """One line per failed expectation (or one line saying all passed)."""
        where = f"{self.suite} [partition {self.partition or '-'}]"
        if not self.failed:
            return f"{where}: all {self.evaluated} expectations passed"
        lines = []
        for f in self.failed:
            column = f" column {f['column']}" if f.get("column") else ""
            lines.append(
                f"{where} {f['severity'].upper()} {f['expectation']}{column}: {f['observed']}"
            )
        return "\n".join(lines)


def validate_frame(
    df: pl.DataFrame, suite_name: str, *, partition: str | None = None
) -> SuiteOutcome:
    """Run suite `suite_name` on `df`. `success` is False only for failed ERROR expectations."""
    spec = suites.load_suite_json(suite_name)  # via the module: tests swap in suites
    return _run_spec(df, spec, suite_name, suite_name, partition)


def _run_spec(
    df: pl.DataFrame,
    spec: dict,
    cache_key: str,
    outcome_name: str,
    partition: str | None,
    *,
    columns: list[str] | None = None,
    derived: dict[str, tuple[str, ...]] | None = None,
    hash_keys: bool = True,
    rerun_exact: bool = True,
) -> SuiteOutcome:
    """Run the suite `spec` (its GE form cached under `cache_key`) on `df`.

    columns: the table's column names, when `df` holds only the referenced ones (the others
    become placeholders). derived: batch keys computed on the pandas frame (see batch_plan).
    hash_keys: text key columns read only for uniqueness go to GE as 64-bit hashes (see
    `_hashable_keys`); if an expectation on one fails, the suite runs again on the text
    itself (unless `rerun_exact` is False: the caller judges again anyway).
    """
    hashed = _hashable_keys(spec, df) if hash_keys else set()
    source = _PandasSource(df, columns or df.columns, hashed, derived or {})
    with lock:
        gx_suite = _ge_suite(cache_key, spec)
        results = _validate(source, gx_suite) if spec["expectations"] else []
    failed = []
    for res in results:
        if res.success:
            continue
        config = res.expectation_config
        entry = {"type": config.type, "kwargs": dict(config.kwargs), "meta": config.meta or {}}
        failed.append(
            {
                "expectation": config.type,
                "column": _column_of(config.kwargs),
                "kwargs": _plain({k: v for k, v in config.kwargs.items() if k != "batch_id"}),
                "observed": _observed(res),
                "severity": severity_of(entry),
            }
        )
    if rerun_exact and any(set(columns_read(f["kwargs"])) & hashed for f in failed):
        # a failure on hashed text: judged again on the text itself, for its examples (and
        # so that no verdict rests on a hash collision)
        return _run_spec(
            df,
            spec,
            cache_key,
            outcome_name,
            partition,
            columns=columns,
            derived=derived,
            hash_keys=False,
        )
    success = not any(f["severity"] == "error" for f in failed)
    return SuiteOutcome(outcome_name, success, len(results), failed, partition)


# Expectations that, on a text column, ask only "equal to another row?" or "missing?": a
# 64-bit hash of the text answers the first without false passes (equal text, equal hash) and,
# on a column without nulls, the second exactly. GE's pandas uniqueness on a million strings
# costs ~0.45 s (factorising Arrow strings); on their hashes ~0.05 s. A hash also takes 8 bytes
# a row in pandas where the text takes its length plus an 8-byte offset.
_KEY_ONLY = frozenset(
    {
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
    }
)


def _hashable_keys(spec: dict, df: pl.DataFrame) -> set[str]:
    """Text columns of `df` without nulls that the suite reads only in `_KEY_ONLY`
    expectations.

    A collision can only make a uniqueness check fail, never pass; `_run_spec` then judges
    the suite again on the text, so outcomes are exactly those on the text."""
    keys, other = set(), set()
    for exp in spec.get("expectations", []):
        cols = columns_read(exp.get("kwargs") or {})
        (keys if exp["type"] in _KEY_ONLY else other).update(cols)
    return {
        c
        for c in keys - other
        if c in df.schema
        and df.schema[c] in (pl.String, pl.Categorical, pl.Binary)
        and df.get_column(c).null_count() == 0
    }


def validate_days(frames: list[tuple[str, pl.DataFrame]], suite_name: str) -> list[SuiteOutcome]:
    """Run suite `suite_name` on each (partition, frame), with the outcome per day that
    `validate_frame` gives, in far fewer Great Expectations validations.

    The days are validated together in the batch form of the suite (batch_plan). GE's cost is
    mostly per expectation, whatever the rows, so N days cost about what one did. If anything
    fails (a warning too), each day is validated again on its own, so the outcomes name the
    expectation, column and partition exactly as `validate_frame` does.
    """
    if len(frames) <= 1:
        return [validate_frame(df, suite_name, partition=p) for p, df in frames]
    plan = batch_plan(suite_name)
    schema = frames[0][1].schema
    columns = list(schema)
    clash = any(k in schema for k in (DAY_KEY, *plan.derived))
    if clash or any(df.schema != schema for _, df in frames):
        return [validate_frame(df, suite_name, partition=p) for p, df in frames]

    try:
        batch_ok = _batch_passes(frames, plan, columns)
    except Exception:  # noqa: BLE001 - the per-day route below is the exact one; only slower
        _log.warning("batch audit of %s did not run; each day instead", suite_name, exc_info=True)
        batch_ok = False
    if not batch_ok:
        return [validate_frame(df, suite_name, partition=p) for p, df in frames]
    outcomes = []
    for p, df in frames:
        if plan.per_day["expectations"]:
            each = _run_spec(df, plan.per_day, f"{suite_name}#each_day", suite_name, p)
            failed, success = each.failed, each.success
        else:
            failed, success = [], True
        outcomes.append(SuiteOutcome(suite_name, success, plan.evaluated, failed, p))
    return outcomes


def _batch_passes(frames: list[tuple[str, pl.DataFrame]], plan: BatchPlan, columns) -> bool:
    """Whether every batch and row-count expectation passed (warnings included)."""
    if plan.row_counts["expectations"]:
        rows = pl.DataFrame(
            {DAY_KEY: range(len(frames)), ROWS: [df.height for _, df in frames]},
            schema={DAY_KEY: pl.Int64, ROWS: pl.Int64},
        )
        counted = _run_spec(rows, plan.row_counts, f"{plan.suite}#rows", plan.suite, None)
        if counted.failed:
            return False
    if not plan.batch["expectations"]:
        return True
    read = [c for c in columns if c in referenced_columns(plan.batch)]
    together = pl.concat(
        [
            df.select(read).with_columns(pl.lit(i, pl.Int64).alias(DAY_KEY))
            for i, (_, df) in enumerate(frames)
        ],
        how="vertical",
        rechunk=False,
    )
    outcome = _run_spec(
        together,
        plan.batch,
        f"{plan.suite}#days",
        plan.suite,
        None,
        columns=[*columns, DAY_KEY],
        derived=plan.derived,
        rerun_exact=False,  # any failure sends each day through validate_frame
    )
    return not outcome.failed
