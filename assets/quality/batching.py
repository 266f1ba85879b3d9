"""The batch form of a suite: which expectations give exactly the per-day verdict when several
days of a table are validated together, and how they are rewritten for it."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from assets.quality import suites

DAY_KEY = "__hermit_day__"
ROWS = "rows"
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
    spec = suites.load_suite_json(suite_name)
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
    kwargs = {"column": ROWS, **{k: v for k, v in bounds.items() if v is not None}}
    return {**exp, "type": "expect_column_values_to_be_between", "kwargs": kwargs}
