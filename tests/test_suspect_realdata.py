"""The suspect-activity detector on the real sensor archive (one internet-facing Zeek sensor at
64.225.56.201): the planted HTTP beacon from 73.54.23.243 and the internet's scanners."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from assets.reporting.suspect import BEACON_MIN_SPAN_S, SCAN_MIN_FAILED_SHARE

ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "zeek-sensor-archive"
DAY = dt.date(2024, 4, 20)
SENSOR_IP, BEACON_SOURCE = "64.225.56.201", "73.54.23.243"
TABLES = ("conn", "dns", "ssl", "http")

pytestmark = pytest.mark.skipif(not ARCHIVE.is_dir(), reason="realdata not present")

NETWORKS_YAML = """\
version: 1
networks:
  - cidr: 64.225.56.0/24
    label: sensor
    owner: the sensor's hosting provider
    timezone: UTC
"""


@pytest.fixture(scope="module")
def day_tables(tmp_path_factory) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Sessions and reporting tables of DAY, the sensor's /24 declared as monitored."""
    from assets.categorised.sessions import categorise
    from assets.reference.loaders import load_reference
    from assets.reporting.tables import build_reporting_tables
    from assets.validated.transform import RawFile, log_table, validate_partition

    networks = tmp_path_factory.mktemp("ref") / "networks.yaml"
    networks.write_text(NETWORKS_YAML)
    files: dict[str, list[RawFile]] = {t: [] for t in TABLES}
    for folder_day in (DAY, DAY + dt.timedelta(days=1)):  # D and its lateness folder
        folder = ARCHIVE / folder_day.isoformat()
        for f in sorted(folder.iterdir()) if folder.is_dir() else ():
            if (table := log_table(f.name)) in files:
                files[table].append(
                    RawFile(str(f.relative_to(ARCHIVE)), folder_day, "archive", f.read_bytes)
                )
    valid = {t: validate_partition(files[t], t, DAY).valid for t in TABLES}
    sessions = categorise(
        valid["conn"],
        valid["dns"],
        valid["ssl"],
        valid["http"],
        reference=load_reference(networks_path=networks),
    ).sessions
    return sessions, build_reporting_tables(sessions, day=DAY)


def test_the_http_beacon_polling_the_sensor_is_flagged(day_tables):
    _, tables = day_tables
    beacons = tables["suspect_activity"].filter(pl.col("kind") == "beaconing")
    found = beacons.filter(pl.col("remote_ip") == BEACON_SOURCE)
    assert found.height == 1
    row = found.row(0, named=True)
    # a remote host calling a monitored server: inbound, keyed on the server's port
    assert (row["direction"], row["local_ip"], row["resp_p"]) == ("inbound", SENSOR_IP, 80)
    assert 200 <= row["gap_mean_s"] <= 350  # "every 200-350 s"
    assert row["gap_cv"] <= 0.2 and row["sessions"] > 250  # all day long
    assert row["last_ts"] - row["first_ts"] > dt.timedelta(hours=23)


def test_short_regular_bursts_are_not_beacons(day_tables):
    """SSH password guessers log in ~30 times a minute or two apart: regular, but brief."""
    sessions, tables = day_tables
    pair = ["local_ip", "remote_ip", "resp_p"]
    gap = pl.col("ts").sort().diff().dt.total_microseconds() / 1e6
    bursts = (
        sessions.filter((pl.col("direction") == "inbound") & (pl.col("resp_p") == 22))
        .group_by(pair)
        .agg(
            pl.len().alias("n"),
            (gap.std(ddof=0) / gap.mean()).alias("cv"),
            gap.sum().alias("span_s"),
        )
        .filter(
            (pl.col("n") >= 12) & (pl.col("cv") <= 0.2) & (pl.col("span_s") < BEACON_MIN_SPAN_S)
        )
    )
    assert bursts.height >= 10  # the evidence for the persistence rule
    beacons = tables["suspect_activity"].filter(pl.col("kind") == "beaconing")
    assert beacons.join(bursts, on=pair, how="semi").height == 0


def test_internet_scanners_hitting_the_sensor_are_scanning(day_tables):
    sessions, tables = day_tables
    suspect = tables["suspect_activity"]
    scans = suspect.filter(pl.col("kind") == "scanning")
    assert scans.height >= 50  # an internet-facing host is probed all day long
    assert (scans["direction"] == "inbound").all() and scans["local_ip"].is_null().all()
    assert (scans["failed_sessions"] >= SCAN_MIN_FAILED_SHARE * scans["sessions"]).all()
    assert (scans["ports"] >= 10).all()  # one monitored address: fan-out is over ports
    assert BEACON_SOURCE not in scans["remote_ip"].to_list()
    # the scanners' attempts are REJ/S0 probes of the sensor
    probes = sessions.join(scans.select("remote_ip"), on="remote_ip", how="semi")
    assert probes["conn_state"].is_in(["REJ", "S0"]).mean() > 0.8
    assert (probes["local_ip"] == SENSOR_IP).all()
    # probes of VPN, proxy or mining ports are scanning, not use of those services
    assert suspect.filter(pl.col("kind").is_in(["obfuscation", "crypto"])).height == 0
