"""The real sensor archive (../shared/realdata) as a raw zone, through every layer via Dagster:
every raw record accounted for, hostnames attributed from the logs, idempotent re-runs."""

import datetime as dt
import gzip
from pathlib import Path

import polars as pl
import pytest
from pipeline_run import run_days

from assets.lake import Lake

ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "zeek-sensor-archive"
DAYS = [dt.date(2024, 4, 19), dt.date(2024, 4, 20), dt.date(2024, 4, 21)]
TABLES = ("conn", "dns", "ssl", "http")

pytestmark = pytest.mark.skipif(not ARCHIVE.is_dir(), reason="../shared/realdata is absent")


def _raw_lines(table: str) -> int:
    """Data lines of `table` in the archive, counted independently of hermit's reader."""
    n = 0
    for day in DAYS:
        for f in (ARCHIVE / day.isoformat()).glob(f"{table}.*.log.gz"):
            with gzip.open(f, "rt", errors="replace") as fh:
                n += sum(1 for line in fh if line.strip() and not line.startswith("#"))
    return n


@pytest.fixture(scope="module")
def realdata_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    (root / "raw" / "zeek").mkdir(parents=True)
    (root / "raw" / "zeek" / "internet-sensor").symlink_to(ARCHIVE)
    # the day before the archive too, so records that started before midnight land somewhere
    first = DAYS[0] - dt.timedelta(days=1)
    result = run_days(str(root), first, DAYS[-1])
    assert result.success
    return Lake(str(root)), result, first


def test_every_raw_record_is_validated_or_quarantined_exactly_once(realdata_lake):
    lake, _, first = realdata_lake
    days = [first, *DAYS]
    for table in TABLES:
        valid = sum(lake.read_partition("validated", table, d).height for d in days)
        quarantined = sum(lake.read_partition("quarantine", table, d).height for d in days)
        assert valid + quarantined == _raw_lines(table), table
        assert valid > 0, table


def test_quarantine_rows_say_why_and_where(realdata_lake):
    lake, _, _ = realdata_lake
    q = pl.concat([lake.read_partition("quarantine", "dns", d) for d in DAYS])
    assert q.height > 0  # the sensor wrote some DNS transactions twice
    assert set(q["reason"]) <= {"duplicate"}
    assert q["source_file"].str.starts_with("zeek/internet-sensor/").all()
    assert (q["line_number"] > 0).all() and q["raw"].str.len_chars().min() > 0


def test_sessions_for_every_day_with_hostnames_from_the_logs(realdata_lake):
    lake, _, _ = realdata_lake
    for day in DAYS:
        sessions = lake.read_partition("categorised", "sessions", day)
        assert sessions.height == lake.read_partition("validated", "conn", day).height
        sources = set(sessions["hostname_source"].unique())
        assert {"sni", "http_host"} <= sources, (day, sources)
        assert sessions.filter(pl.col("hostname_source") == "sni")["hostname"].null_count() == 0


def test_rerunning_the_range_changes_nothing(realdata_lake):
    lake, _, first = realdata_lake
    before = {(t, d): lake.read_partition("validated", t, d) for t in TABLES for d in DAYS}
    assert run_days(lake.root, DAYS[0], DAYS[-1]).success
    for (t, d), frame in before.items():
        assert lake.read_partition("validated", t, d).equals(frame), (t, d)
