"""A day's Great Expectations verdict from its chunks, never from a whole-day pandas copy.

A suite is split once (`chunk_plan`):
- row-local expectations (and the column set) pass on the day exactly when they pass on
  every chunk. Where each reads one column's values one by one (null, range and set checks:
  see `witness`), each chunk leaves a few witness rows and GE runs once, on the day's
  witnesses (GE's cost is mostly per run: ~0.4 s each, 26 runs for a 10M conn day); only
  if that fails are the day's rows read again and given to GE in batches of `audit_rows`,
  as they would have been held, so a failure reports exactly as it did. Other suites hold
  the chunks' rows up to `audit_rows` and run GE on each batch;
- uniqueness (single and compound) is judged over the day on a 64-bit hash of each row's
  key, kept as the chunks pass; only when a hash repeats are the rows behind the repeats
  read again (`reread`) and given to GE's own expectation, so a verdict never rests on a
  hash and failures report through GE's result exactly as elsewhere;
- row counts are judged at the end on the day's count (a one-row frame, as in batching);
- a row-local expectation with a `mostly` fraction is a verdict on the day's share of rows:
  the columns it reads are kept over the day, compactly (text as categorical codes, 4 bytes
  a row), and GE runs it once on them at the end.
Anything else (aggregates over the day) cannot be judged from chunks exactly: `chunk_plan`
refuses such a suite by name.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import polars as pl

from assets.quality import suites
from assets.quality.batching import _ROW_LOCAL, ROWS, _row_count_expectation, _unsafe_bounds
from assets.quality.ge_runner import SuiteOutcome, _run_spec
from assets.quality.witness import NoWitness, witness_columns, witnesses
from assets.repeats import RepeatFinder

__all__ = ["ChunkAudit", "ChunkPlan", "chunk_plan"]

_UNIQUE = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
_TABLE_LEVEL = ("expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list")


@dataclass(frozen=True)
class ChunkPlan:
    suite: str
    chunk: dict  # run by GE on every chunk
    unique: list[dict]  # judged on the day's key hashes, then by GE on the repeats
    row_counts: dict  # over a one-row frame of the day's count (column `rows`)
    evaluated: int
    day: dict = None  # type: ignore[assignment]  # `mostly` expectations, run on the day's columns

    @property
    def day_columns(self) -> list[str]:
        exps = (self.day or {}).get("expectations") or []
        return sorted({c for exp in exps for c in suites.columns_read(exp.get("kwargs") or {})})


@functools.cache
def chunk_plan(suite_name: str) -> ChunkPlan:
    """The chunked form of suite `suite_name`; ValueError for a suite that needs the day."""
    spec = suites.load_suite_json(suite_name)
    chunk, unique, counts, day, whole = [], [], [], [], []
    for exp in spec["expectations"]:
        kind, kwargs = exp["type"], dict(exp.get("kwargs") or {})
        exact = kwargs.get("mostly") is None and not _unsafe_bounds(kwargs)
        if kind in _TABLE_LEVEL or (exact and kind in _ROW_LOCAL):
            chunk.append(exp)
        elif kind in _ROW_LOCAL and not _unsafe_bounds(kwargs):
            day.append(exp)  # a `mostly` fraction: judged on the day's columns
        elif exact and kind in _UNIQUE:
            unique.append(exp)
        elif exact and kind == "expect_table_row_count_to_be_between":
            counts.append(_row_count_expectation(exp, dict(kwargs)))
        elif exact and kind == "expect_table_row_count_to_equal":
            value = kwargs.get("value")
            counts.append(_row_count_expectation(exp, {"min_value": value, "max_value": value}))
        else:
            whole.append(kind)
    if whole:
        raise ValueError(
            f"suite {suite_name}: {', '.join(sorted(set(whole)))} cannot be judged chunk by "
            "chunk exactly (a `mostly` fraction or an aggregate over the day)"
        )
    name = spec.get("name", suite_name)
    return ChunkPlan(
        suite=suite_name,
        chunk={"name": f"{name} (each chunk)", "expectations": chunk},
        unique=unique,
        row_counts={"name": f"{name} (rows)", "expectations": counts},
        evaluated=len(spec["expectations"]),
        day={"name": f"{name} (day fractions)", "expectations": day},
    )


class ChunkAudit:
    """One suite on one day's rows, given chunk by chunk (`add`), judged by `outcome`.

    Holds at most `audit_rows` rows of chunks (then GE runs on them), only the columns the
    row-wise expectations read, and 8 bytes a row per uniqueness expectation. schema: the
    table's, for the verdict on a day without rows."""

    def __init__(self, suite_name: str, partition: str | None, audit_rows: int, schema=None):
        self.plan = chunk_plan(suite_name)
        self.partition = partition
        self.audit_rows = audit_rows
        self.schema = schema
        self.rows = 0
        self._held: list[pl.DataFrame] = []
        self._held_rows = 0
        self._ran = False  # GE ran on at least one chunk
        self._failed: dict[str, dict] = {}  # one entry per failed expectation, first seen
        self._hashes = [
            RepeatFinder(_HASHES_HELD_BATCHES * audit_rows, f"audit-{i}")
            for i in range(len(self.plan.unique))
        ]
        self._day_columns = self.plan.day_columns
        self._day_parts: list[pl.DataFrame] = []
        self._read = suites.referenced_columns(self.plan.chunk)
        # witness mode: each chunk's witness rows, and its height (to batch a replay as the
        # rows would have been held); `_replay`: the day's rows go to GE again at the end
        self._need = witness_columns(self.plan.chunk) if self.plan.chunk["expectations"] else None
        self._witnesses: list[pl.DataFrame] = []
        self._heights: list[int] = []
        self._replay = False

    def add(self, df: pl.DataFrame) -> None:
        if self.schema is None:
            self.schema = df.schema
        if df.height == 0:
            return
        for i, exp in enumerate(self.plan.unique):
            self._hashes[i].add(_key_hashes(df, exp))
        if self._day_columns:
            self._day_parts.append(_compact(df, self._day_columns))
        self.rows += df.height
        if self._need is not None:
            self._heights.append(df.height)
            if not self._replay:
                try:
                    self._witnesses.append(witnesses(df, self._need))
                except NoWitness:
                    self._replay, self._witnesses = True, []
            return
        self._held.append(df.select(c for c in df.columns if c in self._read))
        self._held_rows += df.height
        if self._held_rows >= self.audit_rows:
            self._run_held()

    def _run_held(self) -> None:
        frames, self._held, self._held_rows = self._held, [], 0
        if not frames or not self.plan.chunk["expectations"]:
            return
        together = pl.concat(frames, how="vertical", rechunk=False)
        del frames
        self._run(together)

    def _run(self, frame: pl.DataFrame) -> None:
        self._ran = True
        columns = list(self.schema or frame.columns)  # the others: GE's placeholders
        self._record(
            _run_spec(frame, self.plan.chunk, f"{self.plan.suite}#chunk", "", None, columns=columns)
        )

    def _record(self, outcome: SuiteOutcome) -> None:
        for f in outcome.failed:
            key = json.dumps([f["expectation"], f["column"], f["kwargs"]], default=str)
            self._failed.setdefault(key, f)

    def outcome(
        self, reread: Callable[[list[str]], Iterable[pl.DataFrame]] | None = None
    ) -> SuiteOutcome:
        """The day's verdict. `reread(columns)`: the day's rows again, in the order added
        (those columns), needed only when a uniqueness hash repeats."""
        self._run_held()
        self._judge_witnesses(reread)
        if not self._ran and self.plan.chunk["expectations"]:
            # a day without rows: the suite on an empty frame of the table, as before
            self._run(pl.DataFrame(schema=self.schema or {}))
        self._judge_unique(reread)
        if self._day_columns:
            parts, self._day_parts = self._day_parts, []
            if parts:
                frame = pl.concat(parts, how="vertical", rechunk=False)
            else:
                frame = _compact(pl.DataFrame(schema=self.schema or {}), self._day_columns)
            del parts
            self._record(_run_spec(frame, self.plan.day, f"{self.plan.suite}#day", "", None))
        if self.plan.row_counts["expectations"]:
            rows = pl.DataFrame({ROWS: [self.rows]}, schema={ROWS: pl.Int64})
            counted = _run_spec(rows, self.plan.row_counts, f"{self.plan.suite}#rows", "", None)
            self._record(counted)
        failed = list(self._failed.values())
        success = not any(f["severity"] == "error" for f in failed)
        return SuiteOutcome(self.plan.suite, success, self.plan.evaluated, failed, self.partition)

    def _judge_witnesses(self, reread) -> None:
        """GE on the day's witness rows; on a failure (or a chunk without witnesses) GE on
        the day's rows again, batched as `add` would have held them."""
        parts, self._witnesses = self._witnesses, []
        if self._need is None or not self._heights:
            return
        if not self._replay:
            columns = list(self.schema or parts[0].columns)
            frame = pl.concat(parts, how="vertical")
            spec = self.plan.chunk
            passed = _run_spec(frame, spec, f"{self.plan.suite}#chunk", "", None, columns=columns)
            self._ran = True
            if not passed.failed:
                return
        if reread is None:
            raise ValueError(f"{self.plan.suite}: a chunk expectation failed; reread is needed")
        cols = [c for c in (self.schema or {}) if c in self._read]
        for batch in _rebatch(reread(cols), _batch_sizes(self._heights, self.audit_rows)):
            self._run(batch)

    def _judge_unique(self, reread) -> None:
        for i, exp in enumerate(self.plan.unique):
            positions = self._hashes[i].repeated().cast(pl.Int64)
            self._hashes[i].close()
            if positions.len() == 0:
                continue
            if reread is None:
                raise ValueError(f"{self.plan.suite}: a key hash repeats; reread is needed")
            cols = _key_columns(exp)
            wanted = positions.implode()
            picked, offset = [], 0
            for frame in reread(cols):
                index = pl.int_range(offset, offset + pl.len(), dtype=pl.Int64)
                picked.append(frame.select(cols).filter(index.is_in(wanted)))
                offset += frame.height
            candidates = pl.concat(picked)
            spec = {"name": f"{self.plan.suite} (repeats)", "expectations": [exp]}
            self._record(_run_spec(candidates, spec, f"{self.plan.suite}#unique{i}", "", None))


# Uniqueness hashes held in memory, in audit batches, before they move to local files.
_HASHES_HELD_BATCHES = 4


def _batch_sizes(heights: list[int], audit_rows: int) -> list[int]:
    """Rows of each GE run when chunks of `heights` are held until `audit_rows` are."""
    sizes, held = [], 0
    for h in heights:
        held += h
        if held >= audit_rows:
            sizes.append(held)
            held = 0
    return [*sizes, held] if held else sizes


def _rebatch(frames: Iterable[pl.DataFrame], sizes: list[int]) -> Iterable[pl.DataFrame]:
    """The rows of `frames`, in order, as frames of `sizes` rows."""
    pending: list[pl.DataFrame] = []
    have = 0
    wanted = iter(sizes)
    size = next(wanted, None)
    for frame in frames:
        pending.append(frame)
        have += frame.height
        while size is not None and have >= size:
            together = pl.concat(pending, how="vertical", rechunk=False)
            yield together.slice(0, size)
            rest = together.slice(size)
            pending, have = ([rest] if rest.height else []), rest.height
            size = next(wanted, None)


def _compact(df: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`columns` of `df` (those it has), text as categorical: what a `mostly` expectation
    reads of the day, at 4 bytes a row for a text column."""
    return df.select(
        pl.col(c).cast(pl.Categorical) if df.schema[c] == pl.String else pl.col(c)
        for c in columns
        if c in df.columns
    )


def _key_columns(exp: dict) -> list[str]:
    kwargs = exp.get("kwargs") or {}
    return list(kwargs["column_list"]) if "column_list" in kwargs else [kwargs["column"]]


def _key_hashes(df: pl.DataFrame, exp: dict) -> pl.Series:
    """A hash of each row's key; null for the rows the expectation ignores."""
    cols = _key_columns(exp)
    if any(c not in df.columns for c in cols):
        # GE fails the expectation on the chunk's own run; nothing to compare here
        return pl.repeat(None, df.height, dtype=pl.UInt64, eager=True)
    kwargs = exp.get("kwargs") or {}
    if exp["type"] == "expect_column_values_to_be_unique":
        keep = pl.col(cols[0]).is_not_null()
    else:
        ignore = kwargs.get("ignore_row_if") or "all_values_are_missing"
        if ignore == "any_value_is_missing":
            keep = pl.all_horizontal(pl.col(c).is_not_null() for c in cols)
        elif ignore == "never":
            keep = pl.lit(True)
        else:
            keep = pl.any_horizontal(pl.col(c).is_not_null() for c in cols)
    return df.select(pl.when(keep).then(pl.struct(cols).hash())).to_series()
