"""Issue 12: uids are unique per sensor, not across sensors: the validated tables, their
suites and the categorised join key on (sensor, uid)."""

from __future__ import annotations

import datetime as dt

import pytest
from test_categorise_frames import conn, frame, reference, ssl
from zeek_factory import CONN_FIELDS, conn_record, epoch, raw_file, tsv_block

from assets.categorised.sessions import categorise
from assets.quality.ge_runner import validate_days, validate_frame
from assets.validated.transform import validate_partition

DAY = dt.date(2024, 4, 19)


def _two_sensors(table: str, fields: dict, record: dict, sensors=("s1", "s2")):
    files = [
        raw_file(tsv_block(fields, [record], path=table), DAY, f"{table}.log", sensor=s)
        for s in sensors
    ]
    return validate_partition(files, table, DAY)


def test_the_same_uid_under_two_sensors_is_two_records_and_passes_the_suite():
    result = _two_sensors("conn", CONN_FIELDS, conn_record(epoch(DAY, 5), "CSAME"))
    assert result.valid["sensor"].to_list() == ["s1", "s2"]
    assert result.quarantine.height == 0
    assert validate_frame(result.valid, "validated.conn").success
    days = [("2024-04-19", result.valid), ("2024-04-20", result.valid)]
    assert all(o.success for o in validate_days(days, "validated.conn"))


def test_the_same_uid_twice_under_one_sensor_is_still_a_duplicate():
    result = _two_sensors("conn", CONN_FIELDS, conn_record(epoch(DAY, 5), "CSAME"), ("s1", "s1"))
    assert result.valid.height == 1
    assert result.quarantine["reason"].to_list() == ["duplicate"]
    doubled = result.valid.vstack(result.valid)
    assert not validate_frame(doubled, "validated.conn").success


@pytest.mark.parametrize("table", ["ssl", "http"])
def test_ssl_and_http_suites_key_per_sensor(table):
    from zeek_factory import FIELDS

    fields = FIELDS[table]
    record = {f: "-" for f in fields} | {
        "ts": f"{epoch(DAY, 6):.6f}",
        "uid": "CSAME",
        "id.orig_h": "10.0.0.1",
        "id.orig_p": "5",
        "id.resp_h": "10.0.0.2",
        "id.resp_p": "443",
    }
    if table == "http":
        record["trans_depth"] = "1"
    result = _two_sensors(table, fields, record)
    assert result.valid.height == 2, result.quarantine
    assert validate_frame(result.valid, f"validated.{table}").success


def test_the_categorised_join_matches_uids_within_their_sensor():
    conns = [
        conn("CSAME", "93.184.216.34") | {"sensor": "s1"},
        conn("CSAME", "93.184.216.35") | {"sensor": "s2"},
    ]
    ssls = [
        ssl("CSAME", "www.youtube.com") | {"sensor": "s1"},
        ssl("CSAME", "www.facebook.com") | {"sensor": "s2"},
    ]
    out = categorise(
        frame("conn", conns),
        frame("dns", []),
        frame("ssl", ssls),
        frame("http", []),
        reference=reference(),
    ).sessions.sort("sensor")
    assert out.height == 2
    assert out["hostname"].to_list() == ["www.youtube.com", "www.facebook.com"]
    assert validate_frame(out, "categorised.sessions").success
