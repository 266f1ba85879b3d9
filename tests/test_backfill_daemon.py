"""`hermit materialize` as a real Dagster backfill: the instance lists it (the UI's Backfills
tab), the daemon executes it, and a day that fails its audit holds back only itself."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import pytest
from zeek_factory import CONN_FIELDS, conn_record, epoch, tsv_block

from assets.lake import Lake
from assets.simulate.run import simulate
from workflows.backfill import materialize_range

DAYS = [dt.date(2017, 5, 16) + dt.timedelta(days=i) for i in range(3)]
BAD = DAYS[1]
PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copyfile(PROJECT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    lake = Lake(str(root))
    simulate(lake, start=DAYS[0], end=DAYS[-1], sessions_per_day=100, seed=1)
    folder = root / "raw" / "zeek" / lake.raw_sensors()[0] / BAD.isoformat()
    # a well-formed SCTP record: validation keeps it, the conn suite does not allow it
    record = conn_record(epoch(BAD, 12), "CSCTP00000000001", proto="sctp")
    (folder / "conn.12_00_00-13_00_00.log").write_text(tsv_block(CONN_FIELDS, [record]))
    instance = dg.DagsterInstance.from_config(str(home))
    summary = materialize_range(
        DAYS[0],
        DAYS[-1],
        lake_root=str(root),
        instance=instance,
        engine="daemon",
        progress=False,
    )
    yield lake, instance, summary
    instance.dispose()


def test_the_range_is_a_backfill_on_the_instance(backfilled):
    _, instance, summary = backfilled
    backfills = instance.get_backfills()
    assert {b.backfill_id for b in backfills} == set(summary.backfill_id.split(","))
    assert all(b.is_asset_backfill for b in backfills)
    runs = [
        r
        for b in backfills
        for r in instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": b.backfill_id}))
    ]
    assert runs and all(r.tags.get("hermit/trigger") == "backfill" for r in runs)


def test_the_bad_day_holds_back_only_itself(backfilled):
    lake, _, summary = backfilled
    assert not summary.ok
    for day in DAYS:
        good = day != BAD
        assert lake.has_partition("validated", "conn", day) == good, day
        assert lake.has_partition("categorised", "sessions", day) == good, day
        assert lake.has_partition("reporting", "daily_summary", day) == good, day
    reasons = " ".join(reason for run in summary.failed for _, reason in run.failures)
    assert BAD.isoformat() in reasons and "Great Expectations" in reasons
    layers = {row.layer: row for row in summary.layers}
    assert layers["reporting"].days_missing == [BAD.isoformat()]


def test_each_published_day_has_its_own_materialisation(backfilled):
    lake, instance, _ = backfilled
    key = dg.AssetKey(["categorised", "sessions"])
    for day in (DAYS[0], DAYS[2]):
        record = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day.isoformat()]), limit=1
        ).records[0]
        rows = record.asset_materialization.metadata["dagster/row_count"].value
        assert rows == lake.partition_rows("categorised", "sessions", day)
