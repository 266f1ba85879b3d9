"""Lineage from the inputs: the raw zone and the reference files are observable assets, and a
taxonomy change shows the categorised and reporting partitions stale, validated not."""

from __future__ import annotations

import datetime as dt
import shutil

import dagster as dg
from dagster._core.definitions.data_version import CachingStaleStatusResolver
from dagster._core.loader import LoadingContextForTest

from assets.core.keys import RAW_ZEEK, REFERENCE_TAXONOMY
from assets.core.resources import LakeResource
from assets.lake import Lake
from assets.reference.loaders import TAXONOMY_PATH
from assets.reference.resource import ReferenceResource
from assets.simulate.run import simulate
from workflows.definitions import build_definitions

DAY = dt.date(2017, 5, 16)
KEYS = {
    "validated": dg.AssetKey(["validated", "conn"]),
    "categorised": dg.AssetKey(["categorised", "sessions"]),
    "reporting": dg.AssetKey(["reporting", "top_services"]),
}


def _status(instance, defs) -> dict[str, str]:
    resolver = CachingStaleStatusResolver(
        instance, defs.resolve_asset_graph(), LoadingContextForTest(instance)
    )
    return {layer: resolver.get_status(key, DAY.isoformat()).value for layer, key in KEYS.items()}


def test_a_taxonomy_change_makes_categorised_and_reporting_stale(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    simulate(lake, start=DAY, end=DAY, sessions_per_day=120, seed=5)
    taxonomy = tmp_path / "taxonomy.yaml"
    shutil.copyfile(TAXONOMY_PATH, taxonomy)
    defs = build_definitions(
        lake=LakeResource(root=lake.root, lateness_days=0),
        reference=ReferenceResource(taxonomy_path=str(taxonomy)),
    )
    with dg.instance_for_test(temp_dir=_home(tmp_path)) as instance:
        # the inputs are observed first, as `hermit materialize` and the hourly schedule do
        assert defs.resolve_job_def("observe_inputs").execute_in_process(instance=instance).success
        run = defs.resolve_job_def("daily_pipeline").execute_in_process(
            instance=instance, partition_key=DAY.isoformat()
        )
        assert run.success
        assert set(_status(instance, defs).values()) == {"FRESH"}

        taxonomy.write_text(taxonomy.read_text() + "\n# analyst's edit\n")
        observe = _observe(defs, REFERENCE_TAXONOMY, instance)
        assert observe.success
        assert _status(instance, defs) == {
            "validated": "FRESH",
            "categorised": "STALE",
            "reporting": "STALE",
        }


def test_the_raw_zone_observation_counts_files_and_bytes_per_day(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    simulate(lake, start=DAY, end=DAY, sessions_per_day=60, seed=5)
    defs = build_definitions(lake=LakeResource(root=lake.root))
    with dg.instance_for_test(temp_dir=_home(tmp_path)) as instance:
        assert _observe(defs, RAW_ZEEK, instance).success
        record = instance.fetch_observations(RAW_ZEEK, limit=1).records[0]
        meta = record.asset_observation.metadata
        files = lake.raw_inventory()
        assert meta["files"].value == len(files) > 0
        assert meta["bytes"].value == sum(f.size for f in files)
        assert DAY.isoformat() in meta["recent_days"].value


def _home(tmp_path) -> str:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return str(home)


def _observe(defs: dg.Definitions, key: dg.AssetKey, instance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*defs.assets], selection=[key], instance=instance, resources=defs.resources
    )
