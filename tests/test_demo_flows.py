"""The study from flows end to end on a small scenario: router exports through a real nfcapd,
the daily pipeline and the report on a flows-only lake, and the found-vs-planted table."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pytest
from flows_support import require_program
from rich.console import Console

from assets.lake import Lake
from assets.reference.questions import load_questions
from assets.reference.resource import ReferenceResource
from assets.report.fidelity import planted_headline
from assets.report.flow_fidelity import CANNOT, flow_fidelity
from workflows.demo_flows import print_flow_table, run_flow_demo

START, END = dt.date(2017, 5, 16), dt.date(2017, 5, 17)  # Bitcoin begins on the 17th


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    require_program("nfcapd")
    require_program("nfdump")
    lake = Lake(str(tmp_path_factory.mktemp("lake")))
    instance = dg.DagsterInstance.ephemeral()
    console = Console(record=True, width=200)
    out = {
        rate: run_flow_demo(
            lake,
            sessions_per_day=1500,
            seed=2017,
            rate=rate,
            console=console,
            start=START,
            end=END,
            instance=instance,
        )  # fmt: skip
        for rate in (1, 100)
    }
    gt = Path(out[1].lake_root) / "raw" / "flows" / "pyongyang-border" / "ground_truth.json"
    truth = json.loads(gt.read_text())
    return out, truth, console


def _rows(runs):
    out, truth, _ = runs
    reference = ReferenceResource()
    categories = {s.name: s.category for s in reference.get().taxonomy.service_list}
    planted = planted_headline(truth, categories, load_questions(reference.file_path("networks")))
    rows = flow_fidelity(
        planted,
        None,
        {r: v.headline for r, v in out.items()},
        {r: v.unnamed for r, v in out.items()},
    )
    return {r.figure: r for r in rows}


def test_unsampled_flows_recover_what_flows_can_give(runs):
    rows = _rows(runs)
    assert rows["busiest_local_hour"].ok[1]
    assert rows["first_bitcoin_date"].found[1] == "2017-05-17" and rows["first_bitcoin_date"].ok[1]
    india = rows["india_inbound_share"]
    assert abs(india.found[1] - india.planted) <= 0.02
    assert rows["obfuscation_share"].ok[1]


def test_what_flows_cannot_give_is_marked_with_the_measured_reason(runs):
    rows = _rows(runs)
    out, _, _ = runs
    ranking = rows["social_web_ranking"]
    # Instagram sits at Facebook's addresses: no flow session is named Instagram
    assert ranking.found[1] == CANNOT and ranking.ok[1] is None
    assert any("Instagram" in n and "-> Facebook" in n for n in ranking.notes)
    lost = {u.service: u for u in out[1].unnamed}
    assert lost["Instagram"].named_instead[0] == "Facebook"
    assert lost["YouTube"].named_instead[0] == "Google"
    # the share is measured, low, and the table says which services it could not count
    share = rows["streaming_gaming_share"]
    assert share.found[1] < share.planted
    assert any("Youku" in n for n in share.notes)


def test_sampled_run_is_printed_with_its_estimates_and_explained(runs):
    out, _, console = runs
    rows = _rows(runs)
    assert out[100].sessions > 0 and set(rows["busiest_local_hour"].found) == {1, 100}
    print_flow_table(console, list(rows.values()), list(out.values()))
    text = console.export_text()
    assert "flows 1:100" in text and "cannot" in text
    assert "a session exists only if one of its packets was sampled" in text
