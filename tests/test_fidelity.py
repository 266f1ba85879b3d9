"""Issue 5's acceptance: on the simulated 2017 scenario, run through every layer by Dagster,
the report recovers what was planted."""

import json

import polars as pl
import pytest
from pipeline_run import run_days

from assets.lake import Lake
from assets.reference.loaders import load_taxonomy
from assets.reference.questions import load_questions
from assets.report.build import build_period_report
from assets.report.fidelity import compare_headline, planted_headline
from assets.simulate.run import simulate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_period(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake2017")
    lake = Lake(str(root))
    sim = simulate(lake, sessions_per_day=1500, seed=2017)  # the whole 2017 period
    assert run_days(str(root), sim.start, sim.end).success
    report = build_period_report(lake, sim.start, sim.end, name="fidelity")
    truth = json.loads(lake.raw_fs.cat_file(sim.ground_truth_path))
    return lake, report, truth


def test_report_recovers_the_planted_study_findings(demo_period):
    _, report, truth = demo_period
    categories = {s.name: s.category for s in load_taxonomy().service_list}
    planted = planted_headline(truth, categories, load_questions())
    rows = compare_headline(report.headline, planted)
    assert [r for r in rows if not r.ok] == []
    # and what was planted is the published study
    assert abs(planted["streaming_gaming_share"] - 0.65) <= 0.02
    assert planted["social_web_ranking"] == (
        "Facebook, Google, Baidu, Instagram, Alibaba, Amazon, Tencent, Apple"
    )
    assert planted["busiest_local_hour"] == 8
    assert planted["obfuscation_share"] < 0.01
    assert planted["first_bitcoin_date"] == "2017-05-17"


def test_no_bitcoin_before_the_17th_of_may(demo_period):
    lake, _, _ = demo_period

    first = (
        pl.scan_parquet(
            f"{lake.path('reporting', 'top_services')}/*/*.parquet", hive_partitioning=True
        )
        .filter(pl.col("service") == "Bitcoin")
        .select(pl.col("date").min())
        .collect()
        .item()
    )
    assert str(first) == "2017-05-17"
