"""What a Dagster user sees of a range run: one materialisation per day with that day's own
row count and location, and a check verdict per day, read back from the instance."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from dagster._core.event_api import PartitionKeyFilter
from pipeline_run import run_days

from assets.lake import Lake
from assets.publishing import SUITE_CHECK, VOLUME_CHECK
from assets.simulate.run import simulate

DAYS = [dt.date(2017, 5, 16), dt.date(2017, 5, 17)]
CONN = dg.AssetKey(["validated", "conn"])
SESSIONS = dg.AssetKey(["categorised", "sessions"])


@pytest.fixture(scope="module")
def two_days(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    home = tmp_path_factory.mktemp("dagster_home")
    lake = Lake(str(root))
    # different volumes per day, so a range total stamped on both would show
    simulate(lake, start=DAYS[0], end=DAYS[0], sessions_per_day=150, seed=3)
    simulate(lake, start=DAYS[1], end=DAYS[1], sessions_per_day=300, seed=4)
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = run_days(str(root), DAYS[0], DAYS[1], instance=instance)
        assert result.success
        yield lake, instance


def _latest(instance: dg.DagsterInstance, key: dg.AssetKey, day: dt.date):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day.isoformat()]), limit=1
    ).records
    assert records, (key, day)
    return records[0].asset_materialization


@pytest.mark.parametrize(
    "key,zone,table", [(CONN, "validated", "conn"), (SESSIONS, "categorised", "sessions")]
)
def test_each_day_has_its_own_row_count_and_uri(two_days, key, zone, table):
    lake, instance = two_days
    counts = []
    for day in DAYS:
        meta = _latest(instance, key, day).metadata
        rows = lake.partition_rows(zone, table, day)
        assert meta["dagster/row_count"].value == rows
        assert f"date={day}" in meta["dagster/uri"].value
        counts.append(rows)
    assert counts[0] != counts[1]


def test_each_day_has_its_own_check_verdict(two_days):
    _, instance = two_days
    for check in (SUITE_CHECK, VOLUME_CHECK):
        check_key = dg.AssetCheckKey(CONN, check)
        for day in DAYS:
            records = instance.event_log_storage.get_asset_check_execution_history(
                check_key, limit=10, partition_filter=PartitionKeyFilter(key=day.isoformat())
            )
            assert records, (check, day)
            evaluation = records[0].event.dagster_event.event_specific_data
            assert evaluation.partition == day.isoformat()
            assert evaluation.passed, (check, day, evaluation.metadata)


def test_reconciliation_counts_are_the_days_own(two_days):
    _, instance = two_days
    for day in DAYS:
        meta = {k: v.value for k, v in _latest(instance, CONN, day).metadata.items()}
        assert meta["raw_records"] == (
            meta["valid"]
            - meta["from_later_folders"]
            + meta["quarantined"]
            + meta["to_earlier_partitions"]
        )
        assert meta["dagster/row_count"] == meta["valid"]


def test_a_day_without_raw_files_is_a_warning_on_that_day(two_days, tmp_path):
    lake, _ = two_days
    quiet = DAYS[1] + dt.timedelta(days=2)  # after the simulated days: its folders are empty
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = run_days(lake.root, quiet, instance=instance, lateness_days=0)
        assert result.success  # a warning, not a failure: the day may truly be quiet
        records = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(CONN, VOLUME_CHECK),
            limit=1,
            partition_filter=PartitionKeyFilter(key=quiet.isoformat()),
        )
        evaluation = records[0].event.dagster_event.event_specific_data
        assert not evaluation.passed
        assert evaluation.severity == dg.AssetCheckSeverity.WARN
        assert "no raw files" in evaluation.metadata["finding"].value


def test_volume_finding_judges_a_short_day_against_its_recent_days():
    from assets.validated.volume import raw_volume

    assert raw_volume(24, 900, [1000, 1100, 950]).passed
    short = raw_volume(24, 300, [1000, 1100, 950, 1020])
    assert not short.passed and "third" in short.description
    assert raw_volume(24, 10, [1000]).passed  # too little history to call it short
    assert not raw_volume(0, 0, []).passed


def test_the_report_command_materialises_the_report_asset(two_days):
    from workflows.report_run import materialize_report

    lake, instance = two_days
    meta = materialize_report(
        DAYS[0].isoformat(),
        DAYS[1].isoformat(),
        name="two_days",
        lake_root=lake.root,
        instance=instance,
    )
    assert meta["start"] == DAYS[0].isoformat() and meta["days"] == 2
    assert lake.fs.exists(meta["path"])
    record = instance.fetch_materializations(
        dg.AssetKey(["reports", "period_report"]), limit=1
    ).records[0]
    assert record.asset_materialization.metadata["path"].value == meta["path"]
    # every headline figure reaches the metadata (the demo prints it from there), dates as ISO
    import polars as pl

    headline = pl.read_parquet(lake.fs.open(meta["path"][:-5] + "/headline.parquet")).row(
        0, named=True
    )
    for figure, value in headline.items():
        shown = meta[figure]
        assert shown == (value.isoformat() if hasattr(value, "isoformat") else value), figure


def test_the_report_command_says_why_when_the_period_has_no_data(two_days):
    from workflows.report_run import materialize_report

    lake, instance = two_days
    with pytest.raises(ValueError, match="."):
        materialize_report("2017-04-01", "2017-03-01", lake_root=lake.root, instance=instance)
