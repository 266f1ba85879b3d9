"""The simulator in bounded memory: a big day is drawn in slices of hours or minutes and each
hourly file is compressed piece by piece as its records end, with the same bytes as
compressing the whole file at once; small days keep the bytes they have always had."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from assets.lake import Lake
from assets.simulate import run as sim_run
from assets.simulate import zeek_writer
from assets.simulate.run import day_slices, simulate, slices_per_day

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


def test_a_day_far_bigger_than_a_slice_is_drawn_in_slices_of_minutes():
    big = sim_run.MAX_SESSIONS_PER_SLICE
    assert slices_per_day(1_000) == 1
    assert slices_per_day(3 * big) == 3
    assert slices_per_day(24 * big) == 24
    assert slices_per_day(100 * big) == 120  # 12-minute slices
    assert slices_per_day(100 * big, whole_hours=True) == 24
    assert slices_per_day(10_000 * big) == 1440
    for n in (1_000, 3 * big, 100 * big):
        slices = day_slices(n)
        assert [s.no for s in slices] == list(range(len(slices)))
        assert slices[0].minute_lo == 0 and slices[-1].minute_hi == 1440
        assert all(a.minute_hi == b.minute_lo for a, b in zip(slices, slices[1:], strict=False))
        # the long connections are drawn once, from the start of the day's last hour at most
        (long,) = [s for s in slices if s.long]
        assert long.minute_lo == min(23 * 60, slices[-1].minute_lo)
        assert all(s.fine == (len(slices) > 24) for s in slices)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


# Every file (logs and ground truth) of days drawn in one slice and in a few hour slices, as
# the simulator wrote them before big days were cut into minutes: the demo and the tests plant
# and recover figures from these very records.
SMALL_DAYS = {
    "three_days": (
        {"start": DAY, "end": DAY + dt.timedelta(days=2), "sessions_per_day": 400, "seed": 7},
        None,
        "8b4ae6c9009d70db1e1ed80b9be31c56cc13967368b6ba6f3e3c159781f09ea1",
    ),
    "json_injected": (
        {"start": DAY, "end": DAY + dt.timedelta(days=1), "sessions_per_day": 600, "seed": 5,
         "fmt": "json", "inject_rate": 0.05},
        None,
        "4f78c69bfb7419e765bf6dd57c639b9edbe50c3916b3cb6c8c574f7356ac7984",
    ),
    "tsv_injected": (
        {"start": DAY, "end": DAY + dt.timedelta(days=1), "sessions_per_day": 600, "seed": 5,
         "inject_rate": 0.05},
        None,
        "a258126fb5feda043a0f079cc0176525463d11e1dbfb221361b5f4dd2155cb52",
    ),
    "six_slices": (
        {"start": DAY, "end": DAY + dt.timedelta(days=1), "sessions_per_day": 3000, "seed": 3,
         "inject_rate": 0.02},
        500,
        "642b1c1ada4367284608282c29c50207e4598a589758a78fd0c8665bb1aa26a4",
    ),
    "hour_slices": (
        {"start": DAY, "end": DAY, "sessions_per_day": 12000, "seed": 3},
        500,
        "d5c9b22d16ddaf4c6d4c4867e4bd04ea17289dd1c2e318234e42ca5bf552c211",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(SMALL_DAYS))
def test_days_of_at_most_hour_slices_keep_their_bytes(tmp_path, monkeypatch, case):
    kwargs, per_slice, digest = SMALL_DAYS[case]
    if per_slice:
        monkeypatch.setattr(sim_run, "MAX_SESSIONS_PER_SLICE", per_slice)
    simulate(Lake(str(tmp_path)), **kwargs)
    assert _digest(tmp_path) == digest


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


def _files(root: Path) -> dict[str, list[str]]:
    return {
        f"{f.parent.name}/{f.name}": gzip.decompress(f.read_bytes()).decode().split("\n")
        for f in sorted((root / "raw" / "zeek").rglob("*.log.gz"))
    }


def test_a_day_in_minute_slices_appends_each_hour_in_end_order(tmp_path, monkeypatch):
    monkeypatch.setattr(sim_run, "MAX_SESSIONS_PER_SLICE", 50)
    assert slices_per_day(6000) == 120  # 12-minute slices, five per hourly file
    lake = Lake(str(tmp_path))
    summary = simulate(lake, start=DAY, end=DAY + dt.timedelta(days=1), sessions_per_day=6000,
                       seed=3)  # fmt: skip
    files = _files(tmp_path)
    assert summary.files == len(files) > 2 * 4 * 24  # no hourly file written twice
    written: dict[str, int] = dict.fromkeys(zeek_writer.LOGS, 0)
    uids, per_folder = [], {}
    for name, lines in files.items():
        log = name.split("/")[1].split(".")[0]
        assert lines[-1] == "" and lines[-2].startswith("#close\t")  # whole, closed once
        fields = lines[6].split("\t")[1:]
        rows = [dict(zip(fields, x.split("\t"), strict=True)) for x in lines[8:-2]]
        written[log] += len(rows)
        folder = name.split("/")[0]
        per_folder[folder] = per_folder.get(folder, 0) + len(rows)
        if log == "conn":
            # Zeek's order: by the time the connection ended, across the slices' pieces
            ends = [
                round(float(r["ts"]) * 1e6) + round(float(r["duration"]) * 1e6)
                if r["duration"] != "-" else round(float(r["ts"]) * 1e6)
                for r in rows
            ]  # fmt: skip
            assert ends == sorted(ends), name
            hour = int(name.split("/")[1][5:7])
            assert all(e // 3_600_000_000 % 24 == hour for e in ends), name
            uids += [r["uid"] for r in rows]
    assert written == summary.rows
    assert len(set(uids)) == len(uids)
    truth = json.loads(lake.raw_fs.cat_file(summary.ground_truth_path))
    assert {f: sum(v.values()) for f, v in truth["raw_lines_by_folder"].items()} == per_folder
    assert {
        log: sum(d["records"].get(log, 0) for d in truth["days"].values())
        for log in zeek_writer.LOGS
    } == summary.rows
    # what runs past the last midnight is in the next day's first file, with ts on the day
    after = [x for x in files[f"{DAY + dt.timedelta(days=2)}/conn.00:00:00-01:00:00.log.gz"]
             if x and not x.startswith("#")]  # fmt: skip
    assert after
    midnight = dt.datetime.combine(DAY + dt.timedelta(days=2), dt.time(0), dt.UTC).timestamp()
    assert all(float(x.split("\t")[0]) < midnight for x in after)


@pytest.mark.parametrize("fmt", ["tsv", "json"])
def test_a_day_in_minute_slices_quarantines_exactly_what_was_injected(tmp_path, monkeypatch, fmt):
    pytest.importorskip("assets.validated.transform")
    from test_simulate import _validate_all

    monkeypatch.setattr(sim_run, "MAX_SESSIONS_PER_SLICE", 50)
    lake = Lake(str(tmp_path / "lake"))
    s = simulate(lake, start=DAY, end=DAY + dt.timedelta(days=1), sessions_per_day=6000,
                 inject_rate=0.002, fmt=fmt, seed=3)  # fmt: skip
    gt = json.loads(lake.raw_fs.cat_file(s.ground_truth_path))
    reasons, valid = _validate_all(lake, [DAY + dt.timedelta(days=i) for i in range(3)])
    assert dict(reasons) == gt["injected"]["by_reason"] == s.injected
    assert s.injected.get("truncated_line", 0) >= 1
    for (day, table), n in valid.items():
        assert n == gt["days"].get(day, {}).get("records", {}).get(table, 0)
