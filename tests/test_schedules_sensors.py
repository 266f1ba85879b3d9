"""The nightly schedule and the late-data sensor, evaluated tick by tick."""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import dagster as dg
import pytest

from assets.core.resources import LakeResource
from assets.lake import Lake
from workflows.schedules import NIGHTLY_SCHEDULE, SCHEDULES, nightly_pipeline
from workflows.sensors import LATE_DATA_SENSOR, SENSORS, late_raw_data


def test_nightly_tick_requests_yesterday():
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2017, 4, 11, 2, 0, tzinfo=dt.UTC)
    )
    request = nightly_pipeline(context)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2017-04-10"
    assert nightly_pipeline.job_name == "daily_pipeline"
    assert nightly_pipeline.execution_timezone == "UTC"
    assert nightly_pipeline.name == NIGHTLY_SCHEDULE and nightly_pipeline in SCHEDULES


def test_inputs_are_observed_hourly_before_the_nightly_run():
    from workflows.schedules import OBSERVE_SCHEDULE, observe_inputs_hourly

    assert observe_inputs_hourly.name == OBSERVE_SCHEDULE and observe_inputs_hourly in SCHEDULES
    assert observe_inputs_hourly.job_name == "observe_inputs"
    ticks = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2017, 4, 11, 1, 55, tzinfo=dt.UTC)
    )
    assert observe_inputs_hourly.evaluate_tick(ticks).run_requests
    assert observe_inputs_hourly.cron_schedule == "55 * * * *"


def test_nightly_tick_just_after_midnight_in_another_zone_still_uses_utc():
    tick = dt.datetime(2017, 4, 11, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=8, minutes=30)))
    request = nightly_pipeline(dg.build_schedule_context(scheduled_execution_time=tick))
    assert request.partition_key == "2017-04-09"  # 2017-04-10 17:00 UTC -> yesterday is the 9th


def test_nightly_tick_before_the_first_partition_is_skipped():
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2017, 4, 1, 2, 0, tzinfo=dt.UTC)
    )
    assert isinstance(nightly_pipeline(context), dg.SkipReason)


class SensorHarness:
    """Evaluates the sensor tick after tick, carrying the cursor like the daemon does."""

    def __init__(self, root: str):
        self.lake = Lake(root)
        self.resource = LakeResource(root=root)
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor: str | None = None

    def drop(self, relpath: str, data: bytes = b"#fields\tts\n") -> None:
        self.lake.write_bytes(f"raw/zeek/{relpath}", data)

    def tick(self) -> list[str]:
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"lake": self.resource}
        )
        result = late_raw_data(context)
        self.cursor = result.cursor
        return [r.partition_key for r in result.run_requests or []]


@pytest.fixture
def sensor(tmp_path, monkeypatch):
    monkeypatch.delenv("HERMIT_LATENESS_DAYS", raising=False)
    monkeypatch.delenv("HERMIT_RAW", raising=False)
    h = SensorHarness(str(tmp_path / "lake"))
    h.drop("s1/2017-04-05/conn.00:00:00-01:00:00.log")
    return h


def test_first_tick_records_a_baseline_without_running(sensor):
    assert sensor.tick() == []
    assert json.loads(sensor.cursor)["folders"]  # the folders already there are remembered


def test_late_file_requests_its_folder_day_and_the_lateness_window(sensor):
    sensor.tick()
    sensor.drop("s1/2017-04-05/conn.01:00:00-02:00:00.log")
    assert sensor.tick() == ["2017-04-04", "2017-04-05"]
    # each file triggers once
    assert sensor.tick() == []


def test_files_of_several_folders_and_sensors_are_merged(sensor):
    sensor.tick()
    sensor.drop("s1/2017-04-08/dns.00:00:00-01:00:00.log")
    sensor.drop("s2/2017-04-08/conn.00:00:00-01:00:00.log")
    sensor.drop("s2/2017-04-20/conn.00:00:00-01:00:00.log.gz")
    sensor.drop("s2/ground_truth.json")  # not a dated folder: ignored
    assert sensor.tick() == ["2017-04-07", "2017-04-08", "2017-04-19", "2017-04-20"]


def test_lateness_comes_from_the_environment(sensor, monkeypatch):
    monkeypatch.setenv("HERMIT_LATENESS_DAYS", "2")
    sensor.tick()
    sensor.drop("s1/2017-04-09/http.00:00:00-01:00:00.log")
    assert sensor.tick() == ["2017-04-07", "2017-04-08", "2017-04-09"]


def test_window_is_clipped_to_existing_partitions(sensor):
    sensor.tick()
    sensor.drop(
        "s1/2017-04-01/conn.00:00:00-01:00:00.log"
    )  # the first partition: nothing before it
    today = dt.datetime.now(dt.UTC).date()
    sensor.drop(
        f"s1/{today.isoformat()}/conn.00:00:00-01:00:00.log"
    )  # today is not a partition yet
    assert sensor.tick() == ["2017-04-01", (today - dt.timedelta(days=1)).isoformat()]


def test_an_unrotated_file_also_triggers_the_days_it_may_run_into(sensor, monkeypatch):
    monkeypatch.setenv("HERMIT_UNROTATED_DAYS", "2")
    sensor.tick()
    sensor.drop("s1/2017-04-08/conn.log")  # e.g. `zeek -r` over a long capture
    assert sensor.tick() == ["2017-04-07", "2017-04-08", "2017-04-09", "2017-04-10"]


def test_a_late_flow_file_requests_its_folder_day_and_the_lateness_window(sensor, monkeypatch):
    monkeypatch.setenv("HERMIT_UNROTATED_DAYS", "2")  # Zeek's rule only: flows have none
    sensor.tick()
    sensor.lake.write_bytes("raw/flows/s1/2017-04-08/nfcapd.201704080000", b"flows")
    assert sensor.tick() == ["2017-04-07", "2017-04-08"]
    assert sensor.tick() == []
    # a Zeek sensor of the same name keeps its own folder in the cursor
    sensor.drop("s1/2017-04-08/conn.00:00:00-01:00:00.log")
    assert sensor.tick() == ["2017-04-07", "2017-04-08"]


def test_a_rewritten_file_triggers_again(sensor):
    sensor.tick()
    path = sensor.lake.raw_path("zeek", "s1", "2017-04-05", "conn.00:00:00-01:00:00.log")
    later = time.time() + 5
    os.utime(path, (later, later))
    assert sensor.tick() == ["2017-04-04", "2017-04-05"]


def test_run_requests_carry_unique_run_keys(sensor):
    sensor.tick()
    sensor.drop("s1/2017-04-05/a.01:00:00-02:00:00.log")
    context = dg.build_sensor_context(
        instance=sensor.instance, cursor=sensor.cursor, resources={"lake": sensor.resource}
    )
    first = late_raw_data(context)
    sensor.cursor = first.cursor
    sensor.drop("s1/2017-04-05/b.01:00:00-02:00:00.log")
    context = dg.build_sensor_context(
        instance=sensor.instance, cursor=sensor.cursor, resources={"lake": sensor.resource}
    )
    second = late_raw_data(context)
    keys = [r.run_key for r in first.run_requests + second.run_requests]
    assert len(keys) == len(set(keys)) == 4
    assert all(r.tags["hermit/trigger"] == "late_data" for r in second.run_requests)


def test_sensor_is_exported_with_its_job():
    assert [late_raw_data] == SENSORS
    assert late_raw_data.name == LATE_DATA_SENSOR
    assert late_raw_data.job_name == "daily_pipeline"


def test_the_cursor_stays_small_however_many_files_a_folder_holds(sensor):
    for hour in range(24):
        for log in ("conn", "dns", "ssl", "http", "files", "weird", "x509", "notice"):
            sensor.drop(f"s1/2017-04-06/{log}.{hour:02d}:00:00-{hour:02d}:59:59.log")
    sensor.tick()
    assert len(sensor.cursor) < 200  # two folders, not 193 paths
    sensor.drop("s1/2017-04-06/conn.23:59:59-00:00:00.log")
    assert sensor.tick() == ["2017-04-05", "2017-04-06"]
    assert sensor.tick() == []
