"""Reporting rows say when their figures are estimates from sampled flows."""

from __future__ import annotations

import datetime as dt

import polars as pl
from sessions_factory import make_sessions

from assets.reporting.tables import REPORTING_TABLES, build_reporting_tables

DAY = dt.date(2017, 5, 2)


def _sampled(sessions: pl.DataFrame, rate: int, where: pl.Expr | None = None) -> pl.DataFrame:
    where = pl.lit(True) if where is None else where
    return sessions.with_columns(
        sampling_rate=pl.when(where).then(pl.lit(rate)).otherwise(pl.lit(1)).cast(pl.Int64),
        estimated=where,
    )


def test_an_unsampled_zeek_day_has_no_estimates():
    tables = build_reporting_tables(_sampled(make_sessions(DAY), 1, pl.lit(False)), day=DAY)
    for name in REPORTING_TABLES:
        t = tables[name]
        assert not t["estimated"].any(), name
        assert set(t["max_sampling_rate"]) <= {1}, name


def test_every_row_of_a_sampled_day_is_flagged_with_its_rate():
    tables = build_reporting_tables(_sampled(make_sessions(DAY), 100), day=DAY)
    for name in REPORTING_TABLES:
        t = tables[name]
        assert t.height > 0, name
        assert t["estimated"].all(), name
        assert set(t["max_sampling_rate"]) == {100}, name


def test_only_rows_with_sampled_sessions_are_estimates():
    sessions = _sampled(make_sessions(DAY), 1000, pl.col("category") == "crypto")
    by_cat = build_reporting_tables(sessions, day=DAY)["activity_by_category"]
    flagged = by_cat.filter("estimated")
    assert set(flagged["category"]) == {"crypto"}
    assert set(flagged["max_sampling_rate"]) == {1000}
    assert set(by_cat.filter(~pl.col("estimated"))["max_sampling_rate"]) == {1}
    summary = build_reporting_tables(sessions, day=DAY)["daily_summary"]
    assert summary.row(0, named=True)["estimated"] is True


def test_partitions_written_before_sessions_carried_sampling_read_as_zeek():
    old = make_sessions(DAY)  # no estimated / sampling_rate columns
    assert "estimated" not in old.columns
    summary = build_reporting_tables(old, day=DAY)["daily_summary"]
    assert summary.select("estimated", "max_sampling_rate").row(0) == (False, 1)
