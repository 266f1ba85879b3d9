"""Build a period report from the reporting layer in the lake (used by the `period_report`
asset and by `hermit report`)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import polars as pl

from assets.lake import Lake

REPORT_DIR = "reports"


@dataclass
class BuiltReport:
    html: str
    days: int
    headline: dict


def parse_period(lake: Lake, start: str | dt.date | None, end: str | dt.date | None):
    """Resolve a period; missing bounds default to the first/last day the reporting layer has."""
    days = lake.partition_days("reporting", "daily_summary")
    if not days and not (start and end):
        raise ValueError("the reporting layer is empty: materialise some days first")
    s = dt.date.fromisoformat(str(start)) if start else days[0]
    e = dt.date.fromisoformat(str(end)) if end else days[-1]
    if e < s:
        raise ValueError(f"period ends ({e}) before it starts ({s})")
    return s, e


def read_period_tables(lake: Lake, start: dt.date, end: dt.date) -> dict[str, pl.DataFrame]:
    """Every reporting table over [start, end], with a `date` column."""
    from assets.reporting.tables import REPORTING_TABLES

    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    present = set(lake.partition_days("reporting", "daily_summary"))
    missing = [d for d in days if d not in present]
    if len(missing) == len(days):
        raise ValueError(f"no reporting partitions between {start} and {end}")
    return {t: lake.read_partitions("reporting", t, days) for t in REPORTING_TABLES}


def build_period_report(
    lake: Lake,
    start: dt.date,
    end: dt.date,
    *,
    name: str = "period_report",
    compare: tuple[dt.date, dt.date] | None = None,
    events: list[dict] | None = None,
    networks_path: str | None = None,
) -> BuiltReport:
    """Aggregate the period, render the HTML (and figures) into <lake>/reports/. The networks
    file (default: the bundled one) gives the home country and the questions to answer."""
    from assets.reference.questions import load_questions

    check_report_name(name)
    from assets.report.compare import compare_periods
    from assets.report.figures import period_figures
    from assets.report.html import write_report

    home = _home_country(networks_path)
    questions = load_questions(networks_path)
    tables = read_period_tables(lake, start, end)
    figures = period_figures(tables, home_country=home, questions=questions)
    comparison = None
    if compare:
        other = period_figures(
            read_period_tables(lake, *compare), home_country=home, questions=questions
        )
        comparison = {
            "start": compare[0],
            "end": compare[1],
            "table": compare_periods(figures, other),
        }
    days = tables["daily_summary"]["date"].n_unique() if tables["daily_summary"].height else 0
    path = write_report(
        figures,
        REPORT_DIR,
        name,
        lake=lake,
        title=f"hermit activity report {start} to {end}",
        start=start,
        end=end,
        events=events or _events_from_raw(lake, start, end),
        comparison=comparison,
    )
    headline = {}
    if "headline" in figures and figures["headline"].height:
        headline = figures["headline"].row(0, named=True)
    return BuiltReport(html=str(path), days=days, headline=headline)


_REPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_report_name(name: str) -> None:
    """A report name is one file name in <lake>/reports/: letters, digits, `.`, `_`, `-`,
    starting with a letter or digit (so no `..`, no `/`, no hidden file)."""
    if not _REPORT_NAME.match(name) or ".." in name:
        raise ValueError(
            f"report name {name!r}: use letters, digits, '.', '_' and '-' (it names "
            "<lake>/reports/<name>.html and cannot lead out of the lake)"
        )


def _home_country(networks_path: str | None = None) -> str | None:
    """The monitored networks' own country (by their time zone), so 'foreign' excludes it."""
    from assets.reference.loaders import load_networks
    from assets.report.figures import home_country_for_timezone

    zones = {n.timezone for n in load_networks(networks_path).networks}
    return home_country_for_timezone(zones.pop()) if len(zones) == 1 else None


def _events_from_raw(lake: Lake, start: dt.date, end: dt.date) -> list[dict]:
    """Dated events recorded beside the raw logs (the simulator's ground truth), if any."""
    import json

    events = []
    for sensor in lake.raw_sensors():
        path = lake.raw_path("zeek", sensor, "ground_truth.json")
        if not lake.raw_fs.exists(path):
            continue
        truth = json.loads(lake.raw_fs.cat_file(path))
        for ev in truth.get("events", []):
            day = str(ev.get("date", ""))[:10]
            if day and start.isoformat() <= day <= end.isoformat():
                events.append(ev)
    return events
