"""The period report: self-contained HTML that renders offline, and its figure files."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from sessions_factory import beacon_sessions, make_sessions, scan_sessions

from assets.report.compare import compare_periods
from assets.report.figures import FIGURES, period_figures
from assets.report.html import render_report, write_report
from assets.reporting.tables import REPORTING_TABLES, build_reporting_tables

START, END = dt.date(2017, 5, 16), dt.date(2017, 5, 18)
EVENTS = [{"date": "2017-05-17", "label": "Bitcoin appears"}]


def _tables() -> dict[str, pl.DataFrame]:
    days = [START + dt.timedelta(days=i) for i in range((END - START).days + 1)]
    daily = {}
    for i, d in enumerate(days):
        s = pl.concat([make_sessions(d, 800, seed=i), beacon_sessions(d), scan_sessions(d)])
        daily[d] = build_reporting_tables(s, day=d)
    return {
        n: pl.concat([t[n].with_columns(date=pl.lit(d)) for d, t in daily.items()])
        for n in REPORTING_TABLES
    }


@pytest.fixture(scope="module")
def figures() -> dict[str, pl.DataFrame]:
    from assets.reference.questions import load_questions

    return period_figures(_tables(), home_country="KP", questions=load_questions())


@pytest.fixture(scope="module")
def page(figures) -> str:
    cmp = compare_periods(figures, figures)
    return render_report(
        figures,
        title="Test <report>",
        start=START,
        end=END,
        events=EVENTS,
        comparison={"table": cmp, "label_a": "A", "label_b": "B"},
    )


def test_report_needs_no_network(page):
    external = re.compile(
        r"""<(?:script|img|iframe|source|link)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""",
        re.IGNORECASE,
    )
    assert not external.search(page)
    assert not re.search(r"""url\(\s*["']?(?:https?:)?//""", page, re.IGNORECASE)
    assert page.count("<script") == page.count("</script>")
    # plotly.js is inlined exactly once however many charts there are
    assert page.count("Plotly.newPlot") == 7
    assert len(re.findall(r"plotly\.js v\d", page)) == 1


def test_report_shows_headline_suspects_events_and_comparison(page):
    assert "Test &lt;report&gt;" in page  # titles are escaped
    assert "2017-05-16 to 2017-05-18" in page
    assert "08:00-09:00" in page
    assert "Bitcoin appears" in page
    assert "192.0.2.66" in page and "198.51.100.7" in page  # scanner and beacon
    assert "Period comparison" in page


def test_report_is_deterministic(figures, page):
    again = render_report(
        figures,
        title="Test <report>",
        start=START,
        end=END,
        events=EVENTS,
        comparison={"table": compare_periods(figures, figures), "label_a": "A", "label_b": "B"},
    )
    assert again == page


def test_empty_period_still_renders():
    html = render_report(period_figures({}), title="empty", start=START, end=END)
    assert "No suspect activity" in html


def test_write_report_puts_figures_beside_the_page(tmp_path, figures):
    out = write_report(figures, tmp_path / "reports", "may", title="t", start=START, end=END)
    assert out == tmp_path / "reports" / "may.html"
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    for name in FIGURES:
        parquet = pl.read_parquet(tmp_path / "reports" / "may" / f"{name}.parquet")
        assert parquet.equals(figures[name]), name
        csv = pl.read_csv(tmp_path / "reports" / "may" / f"{name}.csv")
        assert csv.height == figures[name].height


def _chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [
        shutil.which("chromium") or "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,4000",
        "--virtual-time-budget=10000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(tmp_path, figures):
    html = write_report(figures, tmp_path, "report", title="t", start=START, end=END, events=EVENTS)
    png = tmp_path / "report.png"
    _chromium([f"--screenshot={png}", html.as_uri()], tmp_path)
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a blank 1400x4000 page compresses to a few KB; charts and tables make it far larger
    assert png.stat().st_size > 100_000
    dom = _chromium(["--dump-dom", html.as_uri()], tmp_path).stdout
    # plotly builds one plot container (with its SVG layers) per chart once its script has run
    assert dom.count('class="plot-container plotly"') == 7
    assert "main-svg" in dom


def test_the_networks_file_declares_the_reports_questions(tmp_path):
    """A user watching other networks asks their own questions: the headline answers them
    and the page shows them, instead of the 2017 study's."""
    import textwrap

    from assets.reference.loaders import NETWORKS_PATH, ReferenceDataError
    from assets.reference.questions import load_questions

    custom = tmp_path / "networks.yaml"
    base = NETWORKS_PATH.read_text().split("\nquestions:")[0]
    custom.write_text(
        base
        + textwrap.dedent("""
        questions:
          - {name: china_outbound_share, label: China share abroad, kind: outbound_country_share,
             target: CN}
          - {name: first_vpn_day, label: first obfuscation day, kind: first_category_day,
             target: obfuscation}
        """)
    )
    questions = load_questions(custom)
    assert [q.name for q in questions] == ["china_outbound_share", "first_vpn_day"]
    figures = period_figures(_tables(), home_country="KP", questions=questions)
    head = figures["headline"].row(0, named=True)
    assert "india_inbound_share" not in head and "first_bitcoin_date" not in head
    outbound = figures["country_shares"].filter(
        (pl.col("direction") == "outbound") & pl.col("foreign")
    )
    china = outbound.filter(pl.col("remote_country") == "CN")["foreign_share"]
    assert head["china_outbound_share"] == (china[0] if china.len() else 0.0)
    page = render_report(figures, title="custom", start=START, end=END)
    assert "China share abroad" in page and "first obfuscation day" in page
    assert "India share" not in page

    bad = tmp_path / "bad.yaml"
    bad.write_text(base + "\nquestions:\n  - {name: x, label: x, kind: biggest_guess, target: y}\n")
    with pytest.raises(ReferenceDataError, match="kind"):
        load_questions(bad)
