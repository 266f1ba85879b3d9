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


def test_dg_autoloads_the_defs_folder_and_scaffolding_extends_it(tmp_path):
    """`dg scaffold defs dagster.asset` adds a module that `dg list defs` then shows beside
    hermit's own assets, in a copy of the project (the checkout stays untouched)."""
    import json
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    project = tmp_path / "hermit"
    project.mkdir()
    for name in ("pyproject.toml", "workflows", "assets", "expectations", "deploy"):
        src = root / name
        if src.is_dir():
            shutil.copytree(src, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, project / name)
    dg_bin = str(Path(sys.executable).with_name("dg"))
    env = {**__import__("os").environ, "PYTHONPATH": str(project)}
    run = subprocess.run(
        [dg_bin, "scaffold", "defs", "dagster.asset", "probe_asset.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert (project / "workflows" / "defs" / "probe_asset.py").exists()
    listed = subprocess.run(
        [dg_bin, "list", "defs", "--json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    keys = {a["asset_key"] for a in json.loads(listed.stdout)["assets"]}
    assert {"probe_asset", "validated/conn", "reference/taxonomy", "raw/zeek"} <= keys


def test_the_code_location_is_named_hermit_where_dg_reads_it():
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert config["tool"]["dg"]["project"]["code_location_name"] == "hermit"


def test_layer_assets_carry_their_column_schema_owner_and_freshness():
    from assets.validated.schemas import VALIDATED_SCHEMAS

    defs = build_definitions()
    specs = {s.key: s for s in defs.resolve_all_asset_specs()}
    conn = specs[dg.AssetKey(["validated", "conn"])]
    schema = conn.metadata["dagster/column_schema"]
    assert [c.name for c in schema.columns] == list(VALIDATED_SCHEMAS["conn"])
    assert conn.owners == ["team:hermit"] and conn.tags["layer"] == "validated"
    for key, spec in specs.items():
        if key.path[0] == "reporting":
            assert spec.freshness_policy is not None, key


def test_dg_launch_runs_a_partition_range_of_the_daily_job():
    """`dg launch --job daily_pipeline --partition-range` needs every asset of the job to have a
    single-run backfill policy (the observed inputs live in their own job)."""
    job = build_definitions().resolve_job_def("daily_pipeline")
    graph = build_definitions().resolve_asset_graph()
    for key in job.asset_layer.executable_asset_keys:
        node = graph.get(key)
        assert node.partitions_def == DAILY, key
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), key
