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


def _period(sampled_days: set[int], rate: int = 100) -> dict[str, pl.DataFrame]:
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    daily = {}
    for i, d in enumerate(days):
        s = make_sessions(d, 600, seed=i)
        s = _sampled(s, rate if i in sampled_days else 1, pl.lit(i in sampled_days))
        daily[d] = build_reporting_tables(s, day=d)
    return {
        n: pl.concat([t[n].with_columns(date=pl.lit(d)) for d, t in daily.items()])
        for n in REPORTING_TABLES
    }


def _page(tables) -> tuple[dict, str]:
    from assets.report.figures import period_figures
    from assets.report.html import render_report

    figures = period_figures(tables, home_country="KP")
    return figures, render_report(figures, title="t", start=DAY, end=DAY + dt.timedelta(days=2))


def test_the_report_labels_figures_from_sampled_flows_as_estimates():
    figures, page = _page(_period({0, 1, 2}))
    assert figures["estimates"]["estimated"].all()
    assert set(figures["estimates"]["max_sampling_rate"]) == {100}
    assert "Estimated from 1:100 sampled flows." in page
    # the headline, every chart and both tables say so
    assert page.count("Estimated from 1:100 sampled flows.") >= 9


def test_the_report_says_on_how_many_days_figures_are_estimates():
    figures, page = _page(_period({1}, rate=50))
    assert figures["estimates"].filter(table="daily_summary").row(0, named=True) == {
        "table": "daily_summary",
        "estimated": True,
        "max_sampling_rate": 50,
        "estimated_days": 1,
        "days": 3,
    }
    assert "Estimated from 1:50 sampled flows on 1 of 3 days." in page


def test_an_unsampled_report_has_no_estimate_labels():
    figures, page = _page(_period(set()))
    assert not figures["estimates"]["estimated"].any()
    assert "sampled flows" not in page
