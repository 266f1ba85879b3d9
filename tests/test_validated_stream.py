"""The streaming validated layer gives exactly the tables of validating a day in one piece,
however small its chunks (forcing the spill to disk, many ts windows and quarantine groups)
and however small the pieces its raw files are read in."""

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
PIECE = 2048  # bytes of raw text a piece: every hourly file read in several pieces


class _Frames:
    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []

    def write(self, df: pl.DataFrame) -> None:
        self.frames.append(df)


def _assert_same(files: list[RawFile], table: str, day: dt.date) -> int:
    whole = validate_partition(files, table, day, chunk_rows=WHOLE, piece_bytes=WHOLE)
    tiny = validate_partition(files, table, day, chunk_rows=TINY, piece_bytes=PIECE)
    assert tiny.valid.schema == whole.valid.schema
    assert tiny.valid.equals(whole.valid), (table, day)
    assert tiny.quarantine.equals(whole.quarantine), (table, day)
    assert tiny.counts == whole.counts
    assert tiny.counts["valid"] == tiny.valid.height
    assert tiny.counts["quarantined"] == tiny.quarantine.height
    return whole.valid.height + whole.quarantine.height


def _simulated_files(lake: Lake, table: str, day: dt.date) -> list[RawFile]:
    return [
        # streamed from the open file, as the asset reads it
        RawFile(
            lake.raw_relpath(p),
            f,
            SENSOR,
            lambda p=p: lake.read_raw_bytes(p),
            lambda p=p: lake.open_raw(p),
        )
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


def test_a_day_over_the_memory_budget_stops_with_a_clear_error_and_stages_nothing(
    tmp_path, monkeypatch
):
    from assets.memory import MemoryBudgetExceeded
    from assets.validated.day import stage_day

    lake = Lake(str(tmp_path / "lake"))
    simulate(lake, start=DAY1, end=DAY1, sessions_per_day=100, seed=3)
    files = _simulated_files(lake, "conn", DAY1)
    monkeypatch.setenv("HERMIT_MEMORY_BUDGET", "8MiB")  # less than the interpreter itself
    with pytest.raises(
        MemoryBudgetExceeded, match=r"validate conn 2017-05-16.*HERMIT_MEMORY_BUDGET"
    ):
        stage_day(lake, "conn", DAY1, files, 1, 1, chunk_rows=TINY)
    assert not lake.has_partition("validated", "conn", DAY1)
    assert not lake.has_partition("quarantine", "conn", DAY1)
    assert lake.fs.find(lake.path("_staging")) == []


def test_a_staged_day_publishes_the_tables_of_one_chunk_in_many_row_groups(tmp_path):
    from assets.validated.day import stage_day

    lake = Lake(str(tmp_path / "lake"))
    simulate(lake, start=DAY1, end=DAY1, sessions_per_day=300, inject_rate=0.02, seed=9)
    files = _simulated_files(lake, "conn", DAY1)
    whole = validate_partition(files, "conn", DAY1, chunk_rows=WHOLE)
    staged = stage_day(lake, "conn", DAY1, files, 1, 1, chunk_rows=TINY)
    assert staged.valid_outcome.success and staged.quarantine_outcome.success
    assert staged.counts == whole.counts
    staged.quarantine.publish()
    staged.valid.publish()
    assert lake.read_partition("validated", "conn", DAY1).equals(whole.valid)
    assert lake.read_partition("quarantine", "conn", DAY1).equals(whole.quarantine)
    groups = list(lake.iter_partition("validated", "conn", DAY1))
    assert len(groups) > 3 and max(g.height for g in groups) <= TINY
