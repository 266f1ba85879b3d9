"""The Dagster definitions load fast, hang together, and keep the backfill contract."""

import subprocess
import sys

import dagster as dg

from assets.core.partitions import DAILY
from workflows.definitions import build_definitions


def test_every_partitioned_asset_shares_the_daily_partitions_and_backfills_in_one_run():
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    partitioned = [k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def]
    assert len(partitioned) >= 15
    for key in partitioned:
        node = graph.get(key)
        assert node.partitions_def == DAILY, key
        # `dg launch --partition-range` needs single-run backfills on every selected asset
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), key


def test_every_layer_table_has_a_blocking_great_expectations_check():
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    checks = {ck.asset_key: ck for ck in graph.asset_check_keys}
    for key in graph.get_all_asset_keys():
        if key.path[0] in ("validated", "quarantine", "categorised", "reporting"):
            assert key in checks, f"{key} has no check"
    blocking = [ck for ck in graph.asset_check_keys if graph.get_check_spec(ck).blocking]
    assert {ck.asset_key.path[0] for ck in blocking} >= {"validated", "categorised", "reporting"}


def test_assets_have_descriptions_for_the_ui():
    defs = build_definitions()
    for spec in defs.resolve_all_asset_specs():
        assert spec.description, spec.key


def test_importing_the_definitions_does_not_import_great_expectations():
    code = (
        "import sys, workflows.definitions as d; d.build_definitions();"
        "assert 'great_expectations' not in sys.modules, 'GE imported at load time'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dg_check_defs_loads_the_project():
    out = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "workflows.definitions"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
