"""The streaming validated layer gives exactly the tables of validating a day in one piece,
however small its chunks (forcing the spill to disk, many ts windows and quarantine groups)."""

from __future__ import annotations

import datetime as dt
import posixpath

import polars as pl
import pytest

from assets.lake import Lake
from assets.simulate.run import simulate
from assets.validated.transform import RawFile, log_table, stream_partition, validate_partition
from tests.realdata_sources import ARCHIVE, TABLES, archive_days

SENSOR = "pyongyang-tap"
DAY1 = dt.date(2017, 5, 16)
WHOLE = 10**9  # one chunk: the whole day at once
TINY = 37


class _Frames:
    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []

    def write(self, df: pl.DataFrame) -> None:
        self.frames.append(df)


def _assert_same(files: list[RawFile], table: str, day: dt.date) -> int:
    whole = validate_partition(files, table, day, chunk_rows=WHOLE)
    tiny = validate_partition(files, table, day, chunk_rows=TINY)
    assert tiny.valid.schema == whole.valid.schema
    assert tiny.valid.equals(whole.valid), (table, day)
    assert tiny.quarantine.equals(whole.quarantine), (table, day)
    assert tiny.counts == whole.counts
    assert tiny.counts["valid"] == tiny.valid.height
    assert tiny.counts["quarantined"] == tiny.quarantine.height
    return whole.valid.height + whole.quarantine.height


def _simulated_files(lake: Lake, table: str, day: dt.date) -> list[RawFile]:
    return [
        RawFile(lake.raw_relpath(p), f, SENSOR, lambda p=p: lake.read_raw_bytes(p))
        for f in (day, day + dt.timedelta(days=1))
        for p in lake.raw_files(SENSOR, f)
        if log_table(posixpath.basename(p)) == table
    ]


@pytest.mark.parametrize("fmt", ["tsv", "json"])
def test_tiny_chunks_give_the_tables_of_one_chunk_on_a_simulated_day(tmp_path, fmt):
    lake = Lake(str(tmp_path / "lake"))
    # injected faults of every kind: duplicates, late and future records, bad lines
    simulate(lake, start=DAY1, end=DAY1 + dt.timedelta(days=1), sessions_per_day=400,
             inject_rate=0.02, fmt=fmt, seed=5)  # fmt: skip
    reasons: set[str] = set()
    for day in (DAY1, DAY1 + dt.timedelta(days=1)):
        for table in TABLES:
            files = _simulated_files(lake, table, day)
            rows = _assert_same(files, table, day)
            assert table != "conn" or rows > TINY * 10  # many chunks, not one
            reasons |= set(validate_partition(files, table, day).quarantine["reason"].to_list())
    assert {"duplicate", "late"} <= reasons


def test_chunks_are_written_as_they_come_and_bounded(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    simulate(lake, start=DAY1, end=DAY1, sessions_per_day=600, inject_rate=0.02, seed=7)
    files = _simulated_files(lake, "conn", DAY1)
    valid, quarantine = _Frames(), _Frames()
    outcome = stream_partition(files, "conn", DAY1, 1, 1, valid, quarantine, chunk_rows=100)
    assert len(valid.frames) > 3
    # a window is whole seconds of ts: it can pass the chunk only by one second's rows
    assert all(f.height <= 100 or f["ts"].dt.truncate("1s").n_unique() == 1 for f in valid.frames)
    together = pl.concat(valid.frames)
    assert together["ts"].is_sorted()
    assert outcome.counts["valid"] == together.height
    assert outcome.counts["quarantined"] == sum(f.height for f in quarantine.frames)
    assert sum(outcome.sensors.values()) == together.height + outcome.counts["quarantined"]


@pytest.mark.skipif(not ARCHIVE.is_dir(), reason="the real sensor archive is not in ../shared")
def test_tiny_chunks_give_the_tables_of_one_chunk_on_the_real_sensor_archive():
    files: dict[str, list[RawFile]] = {t: [] for t in TABLES}
    for folder in sorted(p for p in ARCHIVE.iterdir() if p.is_dir()):
        folder_day = dt.date.fromisoformat(folder.name)
        for f in sorted(folder.iterdir()):
            if (table := log_table(f.name)) in files:
                rel = str(f.relative_to(ARCHIVE))
                files[table].append(RawFile(rel, folder_day, "archive", f.read_bytes))
    checked = 0
    for day in archive_days():
        for table in TABLES:
            checked += _assert_same(files[table], table, day)
    assert checked > 1000
