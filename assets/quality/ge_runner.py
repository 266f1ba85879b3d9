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

import functools
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from assets.config import PROJECT_ROOT

if TYPE_CHECKING:
    import pandas as pd

SUITES_DIR = PROJECT_ROOT / "expectations"

# kwargs that name the columns an expectation reads; everything else is a parameter.
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_COLUMN_LIST_KWARGS = ("column_list",)
_RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 5}
_EXAMPLES = 3
_GX_SEVERITY = {"error": "critical", "warning": "warning"}

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_engine: dict[str, Any] = {}


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


def list_suites() -> list[str]:
    """Names of every suite in `expectations/` (`<zone>.<table>`), sorted."""
    return sorted(p.name.removesuffix(".json") for p in SUITES_DIR.glob("*.json"))


def suite_path(suite_name: str) -> Path:
    return SUITES_DIR / f"{suite_name}.json"


@functools.cache
def load_suite_json(suite_name: str) -> dict:
    """The suite's JSON as a dict (no GE import); raises FileNotFoundError for unknown suites."""
    path = suite_path(suite_name)
    if not path.is_file():
        raise FileNotFoundError(f"no Great Expectations suite {suite_name!r} at {path}")
    return json.loads(path.read_text())


def severity_of(expectation: dict) -> str:
    """`error` or `warning` for one expectation entry of a suite (meta wins over GE's field)."""
    raw = (expectation.get("meta") or {}).get("severity") or expectation.get("severity")
    raw = (raw or "error").lower()
    if raw in ("error", "critical"):
        return "error"
    if raw in ("warning", "warn", "info"):
        return "warning"
    raise ValueError(f"unknown severity {raw!r} in {expectation.get('type')}")


def referenced_columns(suite: dict) -> set[str]:
    """Columns whose values the suite's expectations read."""
    expectations = suite.get("expectations", [])
    return {c for exp in expectations for c in _columns_read(exp.get("kwargs", {}))}


def _columns_read(kwargs) -> set[str]:
    cols = {kwargs[k] for k in _COLUMN_KWARGS if kwargs.get(k) is not None}
    for k in _COLUMN_LIST_KWARGS:
        cols.update(kwargs.get(k) or [])
    return cols


def validate_frame(
    df: pl.DataFrame, suite_name: str, *, partition: str | None = None
) -> SuiteOutcome:
    """Run suite `suite_name` on `df`. `success` is False only for failed ERROR expectations."""
    spec = load_suite_json(suite_name)
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
    with _lock:  # the cached GE context is not thread-safe
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
    if rerun_exact and any(set(_columns_read(f["kwargs"])) & hashed for f in failed):
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
        cols = _columns_read(exp.get("kwargs") or {})
        (keys if exp["type"] in _KEY_ONLY else other).update(cols)
    return {
        c
        for c in keys - other
        if c in df.schema
        and df.schema[c] in (pl.String, pl.Categorical, pl.Binary)
        and df.get_column(c).null_count() == 0
    }


# ---- many days of one table in one validation ------------------------------------------------
DAY_KEY = "__hermit_day__"
_ROWS = "rows"
# Expectations judged row by row: over several days' rows they pass exactly when they pass on
# every day's rows (without `mostly`, whose fraction is per day).
_ROW_LOCAL = frozenset(
    {
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_pair_values_a_to_be_greater_than_b",
        "expect_column_pair_values_to_be_equal",
        "expect_column_value_lengths_to_equal",
        "expect_column_value_lengths_to_be_between",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
    }
)
# Integer columns holding nulls become float64 in pandas for the whole batch (a day without
# nulls keeps int64): comparisons agree while every bound is exactly representable.
_EXACT_FLOAT_BOUND = 2**53
_BOUND_KWARGS = ("min_value", "max_value", "value")
_ROW_COUNT_KWARGS = ("min_value", "max_value", "strict_min", "strict_max")


@dataclass(frozen=True)
class BatchPlan:
    """A suite split for validating several days of a table at once.

    batch: expectations over the days' rows concatenated with a day key (DAY_KEY): row-local
    ones as they are, uniqueness made compound with the day key, the column set plus the keys.
    derived: extra key columns of the batch frame (name -> columns): the day key where any of
    those columns is present, so compound uniqueness still ignores the rows it ignored per day.
    row_counts: per-day row-count expectations over a frame of one row per day (`rows`).
    per_day: the rest (`mostly` fractions, table aggregates): still run on each day alone.
    """

    suite: str
    batch: dict
    derived: dict[str, tuple[str, ...]]
    row_counts: dict
    per_day: dict
    evaluated: int


@functools.cache
def batch_plan(suite_name: str) -> BatchPlan:
    """The batch form of suite `suite_name` (see BatchPlan)."""
    spec = load_suite_json(suite_name)
    batch, row_counts, per_day, derived = [], [], [], {}
    columns_set = []
    for exp in spec["expectations"]:
        kind, kwargs = exp["type"], dict(exp.get("kwargs") or {})
        mostly = kwargs.get("mostly")
        exact = mostly is None and not _unsafe_bounds(kwargs)
        if exact and kind in _ROW_LOCAL:
            batch.append(exp)
        elif exact and kind == "expect_column_values_to_be_unique":
            kwargs = {k: v for k, v in kwargs.items() if k not in ("column", "mostly")}
            kwargs.update(column_list=[exp["kwargs"]["column"], DAY_KEY])
            # the single-column form ignores null values; so does "any" with a present day key
            kwargs["ignore_row_if"] = "any_value_is_missing"
            batch.append({**exp, "type": "expect_compound_columns_to_be_unique", "kwargs": kwargs})
        elif exact and kind == "expect_compound_columns_to_be_unique":
            ignore = kwargs.get("ignore_row_if") or "all_values_are_missing"
            key = DAY_KEY
            if ignore == "all_values_are_missing":
                key = f"{DAY_KEY}{len(derived)}"
                derived[key] = tuple(kwargs["column_list"])
            kwargs["column_list"] = [*kwargs["column_list"], key]
            batch.append({**exp, "kwargs": kwargs})
        elif kind == "expect_table_columns_to_match_set" and kwargs.get("column_set") is not None:
            columns_set.append(exp)
        elif exact and kind == "expect_table_row_count_to_be_between":
            bounds = {k: kwargs.get(k) for k in _ROW_COUNT_KWARGS}
            row_counts.append(_row_count_expectation(exp, bounds))
        elif exact and kind == "expect_table_row_count_to_equal":
            value = kwargs.get("value")
            row_counts.append(_row_count_expectation(exp, {"min_value": value, "max_value": value}))
        else:
            per_day.append(exp)
    keys = [DAY_KEY, *derived]
    for exp in columns_set:
        kwargs = dict(exp["kwargs"])
        kwargs["column_set"] = [*kwargs["column_set"], *keys]
        batch.append({**exp, "kwargs": kwargs})
    name = spec.get("name", suite_name)
    return BatchPlan(
        suite=suite_name,
        batch={"name": f"{name} (days)", "expectations": batch},
        derived=derived,
        row_counts={"name": f"{name} (rows per day)", "expectations": row_counts},
        per_day={"name": f"{name} (each day)", "expectations": per_day},
        evaluated=len(spec["expectations"]),
    )


def _unsafe_bounds(kwargs: dict) -> bool:
    return any(
        isinstance(kwargs.get(k), int | float) and abs(kwargs[k]) >= _EXACT_FLOAT_BOUND
        for k in _BOUND_KWARGS
    )


def _row_count_expectation(exp: dict, bounds: dict) -> dict:
    kwargs = {"column": _ROWS, **{k: v for k, v in bounds.items() if v is not None}}
    return {**exp, "type": "expect_column_values_to_be_between", "kwargs": kwargs}


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
            {DAY_KEY: range(len(frames)), _ROWS: [df.height for _, df in frames]},
            schema={DAY_KEY: pl.Int64, _ROWS: pl.Int64},
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


class _PandasSource:
    """The frame as GE sees it (pandas), converted a group of columns at a time: GE runs the
    expectations group by group (`_validate`), so only one group's pandas copy is alive at
    once instead of the whole table's (~1 GB for a 10M-row conn day).

    columns: every column name of the table (default df's), when df holds only some.
    hashed: text columns given to GE as 64-bit hashes (see `_hashable_keys`).
    derived: batch keys computed on the pandas columns (see batch_plan).
    """

    def __init__(self, df: pl.DataFrame, columns, hashed: set[str], derived: dict):
        self.df, self.columns, self.hashed, self.derived = df, list(columns), hashed, derived

    def frame(self, names) -> pd.DataFrame:
        """The named columns (those the frame has), derived keys included."""
        derived = [n for n in names if n in self.derived]
        needed = {n for n in names if n in self.df.columns}
        for name in derived:
            needed |= {DAY_KEY, *(c for c in self.derived[name] if c in self.df.columns)}
        pdf = _to_pandas(self.df.select([c for c in self.df.columns if c in needed]), self.hashed)
        for name in derived:
            # pandas' own notion of missing (null, NaN, NaT), the one GE's ignore_row_if uses.
            # (a key column the table lacks fails its expectation; the day key is then all null)
            keys = [c for c in self.derived[name] if c in pdf.columns]
            pdf[name] = pdf[DAY_KEY].where(pdf[keys].notna().any(axis=1))
        return pdf[[n for n in names if n in pdf.columns]]

    def table(self) -> pd.DataFrame:
        """Every column name over the table's rows, for table-level expectations (column set,
        row count), which read no values: 1-byte placeholders."""
        import numpy as np
        import pandas as pd

        names = [*self.columns, *(d for d in self.derived if d not in self.columns)]
        zeros = np.zeros(self.df.height, dtype=np.int8)
        index = pd.RangeIndex(self.df.height)
        return pd.DataFrame({c: zeros for c in names}, index=index, copy=False)

    def whole(self, referenced: set[str]) -> pd.DataFrame:
        """Every column: the `referenced` ones converted, the rest placeholders (for GE's
        public route, which validates one frame)."""
        import pandas as pd

        table = self.table()
        converted = self.frame([c for c in table.columns if c in referenced])
        rest = table[[c for c in table.columns if c not in converted.columns]]
        return pd.concat([converted, rest], axis=1)[list(table.columns)]


def _to_pandas(df: pl.DataFrame, hashed: set[str] = frozenset()):  # type: ignore[assignment]
    """Every column of `df` as GE's pandas engine checks it fastest; `hashed` columns as the
    64-bit hashes of their values (see `_hashable_keys`)."""
    # GE's pandas range check is vectorised only for int64/float64 columns (per-row Python
    # otherwise, ~1 s per million rows): widen narrower numbers first.
    widen = [
        pl.col(c).cast(pl.Int64 if t.is_integer() else pl.Float64)
        for c, t in df.schema.items()
        if t.is_numeric() and t not in (pl.Int64, pl.Float64)
    ]
    widen += [pl.col(c).hash().reinterpret(signed=True) for c in df.columns if c in hashed]
    # Timestamps as naive UTC nanoseconds: the only datetime dtype GE's range check
    # vectorises, and pandas deprecates GE's pairwise comparison of tz-aware columns.
    widen += [
        pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None).dt.cast_time_unit("ns")
        if t.time_zone  # type: ignore[union-attr]
        else pl.col(c).dt.cast_time_unit("ns")
        for c, t in df.schema.items()
        if isinstance(t, pl.Datetime)
    ]
    # numpy-backed conversion: GE on pyarrow extension arrays measured ~10x slower.
    # One chunk per column: pandas keeps arrow chunking, and chunked strings are slower in GE.
    return df.with_columns(widen).rechunk().to_pandas()


def _gx_engine() -> dict[str, Any]:
    """Import GE and build the ephemeral context once per process."""
    if _engine:
        return _engine
    # No network: never send usage statistics; set before GE reads its configuration.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("hermit_frames").add_dataframe_asset("frame")
    _engine.update(
        gx=gx,
        context=context,
        asset=asset,
        batch_definition=asset.add_batch_definition_whole_dataframe("whole_frame"),
        suites={},
    )
    return _engine


def _ge_suite(cache_key: str, spec: dict | None = None):
    """GE's form of suite `spec` (default: the stored suite named `cache_key`), built once per
    process under `cache_key`."""
    engine = _gx_engine()
    suites = engine["suites"]
    if cache_key not in suites:
        spec = spec if spec is not None else load_suite_json(cache_key)
        suites[cache_key] = engine["gx"].ExpectationSuite(
            name=spec.get("name", cache_key),
            expectations=[
                {
                    "type": e["type"],
                    "kwargs": e.get("kwargs", {}),
                    "meta": e.get("meta") or {},
                    # GE's own severity field, kept in step with ours for GE's tooling.
                    "severity": _GX_SEVERITY[severity_of(e)],
                }
                for e in spec["expectations"]
            ],
            meta=spec.get("meta"),
        )
    return suites[cache_key]


# Below this many rows a table is validated as one frame (see `_validate`).
SMALL_TABLE_ROWS = 50_000


def _validate(source: _PandasSource, gx_suite) -> list:
    """GE's per-expectation results for the frame behind `source`.

    Expectations run in groups of the columns they read, each on a frame of just those
    columns, converted for that group and dropped after it: GE's pandas engine filters the
    whole frame (every column) for each column expectation, so on a wide frame most of its
    time went to copying columns it never reads, and one group at a time bounds the memory.
    Table-level expectations (column set, row count) see every column name.
    """
    groups: dict[tuple[str, ...], list] = {}
    for config in gx_suite.expectation_configurations:
        groups.setdefault(tuple(sorted(_columns_read(config.kwargs))), []).append(config)
    read = {c for columns in groups for c in columns}
    if source.df.height < SMALL_TABLE_ROWS:
        # GE's fixed cost per validation outweighs any copying on a small table: one group
        plan = [(lambda: source.whole(read), list(gx_suite.expectation_configurations))]
    else:
        plan = [
            (lambda c=columns: source.frame(c) if c else source.table(), configs)
            for columns, configs in groups.items()
        ]
    results = []
    for make_frame, configs in plan:
        frame = make_frame()
        try:
            validator = _unfingerprinted_validator(frame)
        except (ImportError, AttributeError, TypeError, ValueError):
            # GE internals moved (an upgrade): the public path, slower but equivalent.
            return _public_validate(source.whole(read), gx_suite)
        configs = validator.process_expectations_for_validation(configs)
        results += validator.graph_validate(
            configurations=configs, runtime_configuration={"result_format": dict(_RESULT_FORMAT)}
        )
        del frame, validator
    return results


def _unfingerprinted_validator(pdf):
    """A GE validator on `pdf`, built as `DataFrameAsset.get_batch` does minus the batch
    fingerprint (a full hash of the frame, about 60% of a 1M-row conn validation).

    A fresh execution engine per frame, without a metric cache: GE's cache keeps every
    per-row condition Series across calls, which would grow with each partition validated.
    """
    import datetime as dt

    from great_expectations.core.batch import BatchMarkers, LegacyBatchDefinition
    from great_expectations.core.batch_spec import RuntimeDataBatchSpec
    from great_expectations.core.id_dict import IDDict
    from great_expectations.datasource.fluent.interfaces import Batch
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.execution_engine.pandas_batch_data import PandasBatchData
    from great_expectations.validator.validator import Validator

    engine = _gx_engine()
    asset = engine["asset"]
    execution_engine = PandasExecutionEngine(caching=False)
    loaded = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    batch = Batch(
        datasource=asset.datasource,
        data_asset=asset,
        batch_request=engine["batch_definition"].build_batch_request({"dataframe": pdf}),
        data=PandasBatchData(execution_engine, dataframe=pdf),
        batch_markers=BatchMarkers({"ge_load_time": loaded}),
        batch_spec=RuntimeDataBatchSpec(batch_data="PandasDataFrame"),
        batch_definition=LegacyBatchDefinition(
            datasource_name=asset.datasource.name,
            data_connector_name="fluent",
            data_asset_name=asset.name,
            batch_identifiers=IDDict({}),
        ),
    )
    return Validator(
        execution_engine=execution_engine, data_context=engine["context"], batches=[batch]
    )


def _public_validate(pdf, gx_suite) -> list:
    """`Batch.validate`'s route: fingerprints the frame, and the datasource's engine caches
    metrics across calls (fine as a fallback; the fast path above avoids both)."""
    from great_expectations.validator.v1_validator import Validator

    validator = Validator(
        batch_definition=_gx_engine()["batch_definition"],
        batch_parameters={"dataframe": pdf},
        result_format=dict(_RESULT_FORMAT),
    )
    return validator.validate_expectation_suite(gx_suite).results


def _column_of(kwargs) -> str | None:
    for k in _COLUMN_KWARGS:
        if kwargs.get(k) is not None:
            return kwargs[k]
    if kwargs.get("column_list"):
        return ",".join(kwargs["column_list"])
    return None


def _observed(res) -> str:
    """A short human summary of why an expectation failed."""
    error = _exception_message(res.exception_info)
    if error:
        return f"could not evaluate: {error}"
    result = res.result or {}
    mismatched = (result.get("details") or {}).get("mismatched")
    if isinstance(mismatched, dict):
        return "columns " + "; ".join(f"{k} {sorted(v)}" for k, v in mismatched.items() if v)
    if result.get("unexpected_count") is not None:
        text = f"{result['unexpected_count']} unexpected of {result.get('element_count')} rows"
        pct = result.get("unexpected_percent")
        if pct is not None:
            text += f" ({pct:.3g}%"
            mostly = res.expectation_config.kwargs.get("mostly")
            text += f"; at most {100 * (1 - mostly):.3g}% allowed)" if mostly else ")"
        partial = result.get("partial_unexpected_list") or []
        examples = list(dict.fromkeys(repr(_plain(v)) for v in partial))
        if examples:
            text += ", e.g. " + ", ".join(examples[:_EXAMPLES])
        return text
    if "observed_value" in result:
        return f"observed {_plain(result['observed_value'])!r}"
    return "failed"


def _exception_message(info) -> str | None:
    """GE reports an exception either flat or keyed by the failing metric."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" not in info:
        for nested in info.values():
            message = _exception_message(nested)
            if message:
                return message
        return None
    if not info.get("raised_exception") and not info.get("exception_message"):
        return None
    lines = str(info.get("exception_message") or "exception").strip().splitlines()
    return lines[-1] if lines else "exception"


def _plain(value: Any) -> Any:
    """JSON-friendly copy (numpy scalars, sets, timestamps -> plain values)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item"):
        try:
            return value.item()
        except (ValueError, TypeError):
            pass
    return str(value)
