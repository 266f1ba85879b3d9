"""The simulator in bounded memory: a big day is drawn in hour slices and each hourly file is
compressed piece by piece, with the same bytes as compressing the whole file at once."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import polars as pl
import pytest

from assets.lake import Lake
from assets.simulate import run as sim_run
from assets.simulate import zeek_writer
from assets.simulate.run import simulate, slices_per_day

DAY = dt.date(2017, 5, 16)
HOUR = 1_494_892_800_000_000  # 2017-05-16T00:00Z in microseconds


@pytest.mark.parametrize("fmt", ["tsv", "json"])
@pytest.mark.parametrize("truncated", [False, True])
def test_a_streamed_file_has_the_bytes_of_the_one_shot_file(monkeypatch, fmt, truncated):
    monkeypatch.setattr(zeek_writer, "STREAM_LINES", 3)  # many pieces
    lines = pl.Series([f"line {i}\twith\tfields é {i * i}" for i in range(20)], dtype=pl.String)
    tail = "cut in the midd" if truncated else ""
    body = "\n".join(lines.to_list()) + "\n" + tail
    expected = zeek_writer.file_bytes("conn", fmt, HOUR, body, truncated)
    got = zeek_writer.stream_file_bytes("conn", fmt, HOUR, lines, tail, truncated)
    assert got == expected
    assert gzip.decompress(got).decode().endswith(tail or "\n")


def test_a_day_far_bigger_than_a_slice_is_drawn_hour_by_hour():
    assert slices_per_day(1_000) == 1
    assert slices_per_day(3 * sim_run.MAX_SESSIONS_PER_SLICE) == 3
    assert slices_per_day(100 * sim_run.MAX_SESSIONS_PER_SLICE) == 24


def test_a_day_in_many_slices_writes_each_hourly_file_once_with_every_record(tmp_path, monkeypatch):
    monkeypatch.setattr(sim_run, "MAX_SESSIONS_PER_SLICE", 500)
    lake = Lake(str(tmp_path))
    summary = simulate(lake, start=DAY, end=DAY, sessions_per_day=3000, seed=3)
    assert slices_per_day(3000) == 6
    files = sorted(p for p in (tmp_path / "raw" / "zeek").rglob("*.log.gz"))
    assert summary.files == len(files)  # no hourly file written twice (over itself)
    written: dict[str, int] = dict.fromkeys(zeek_writer.LOGS, 0)
    for f in files:
        text = gzip.decompress(f.read_bytes()).decode()
        assert text.splitlines()[-1].startswith("#close\t")  # complete: written once, whole
        written[f.name.split(".")[0]] += sum(
            1 for line in text.splitlines() if line and not line.startswith("#")
        )
    assert written == summary.rows
    truth = json.loads(lake.raw_fs.cat_file(summary.ground_truth_path))
    by_day: dict[str, int] = dict.fromkeys(zeek_writer.LOGS, 0)
    for counts in truth["days"].values():
        for log, n in counts["records"].items():
            by_day[log] += n
    assert by_day == summary.rows
