"""The lake on local disk: atomic partition replacement, locks, retries, raw listing."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time

import polars as pl
import pytest

from assets.lake import Lake, LockTimeout, with_retries

DAY = dt.date(2017, 4, 2)


def test_write_replace_read_partition(tmp_path):
    lake = Lake(str(tmp_path))
    lake.write_partition("validated", "conn", DAY, pl.DataFrame({"v": [1, 2, 3]}))
    lake.write_partition("validated", "conn", DAY, pl.DataFrame({"v": [7, 8]}))
    lake.write_partition("validated", "conn", DAY + dt.timedelta(days=1), pl.DataFrame({"v": [9]}))

    assert lake.read_partition("validated", "conn", DAY)["v"].to_list() == [7, 8]
    assert lake.read_partition("validated", "conn", DAY - dt.timedelta(days=1)) is None
    assert lake.partition_days("validated", "conn") == [DAY, DAY + dt.timedelta(days=1)]
    assert lake.partition_rows("validated", "conn", DAY) == 2
    both = lake.read_partitions("validated", "conn", [DAY, DAY + dt.timedelta(days=1)])
    assert both.sort("v")["v"].to_list() == [7, 8, 9]
    assert set(both["date"].to_list()) == {DAY, DAY + dt.timedelta(days=1)}
    # one file per partition, nothing else beside it
    assert os.listdir(lake.partition_dir("validated", "conn", DAY)) == ["part-0.parquet"]


def test_reads_only_the_columns_asked_for_and_scans_lazily(tmp_path):
    lake = Lake(str(tmp_path))
    frame = pl.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, 1.5]})
    lake.write_partition("validated", "conn", DAY, frame)
    # a column the file lacks (an older layout) is skipped, not an error
    got = lake.read_partition("validated", "conn", DAY, ["c", "a", "missing"])
    assert got.columns == ["c", "a"] and got["a"].to_list() == [1, 2]
    with lake.scan_partition("validated", "conn", DAY) as lf:
        assert lf.select(pl.col("b").str.to_uppercase()).collect()["b"].to_list() == ["X", "Y"]
    with lake.scan_partition("validated", "conn", DAY - dt.timedelta(days=1)) as absent:
        assert absent is None


def test_bi_reader_sees_only_published_partitions(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    lake = Lake(str(tmp_path))
    lake.write_partition("reporting", "daily_summary", DAY, pl.DataFrame({"n": [5]}))
    # a dead writer's leftovers: a staging file and an empty partition folder
    os.makedirs(lake.path("_staging", "reporting", "daily_summary", "date=2017-04-03", "x"))
    with open(lake.path("_staging/reporting/daily_summary/date=2017-04-03/x/part-0.parquet"), "w"):
        pass
    os.makedirs(lake.partition_dir("reporting", "daily_summary", DAY + dt.timedelta(days=1)))

    rows = duckdb.sql(
        f"SELECT date, n FROM read_parquet('{lake.url('reporting', 'daily_summary')}/*/*.parquet',"
        " hive_partitioning = true)"
    ).fetchall()
    assert rows == [(DAY, 5)]
    assert lake.partition_days("reporting", "daily_summary") == [DAY]


def test_killed_writer_leaves_old_partition_and_rerun_completes(tmp_path, killed_writer):
    killed_writer(str(tmp_path))
    lake = Lake(str(tmp_path))

    old = lake.read_partition("validated", "conn", DAY)
    assert old["v"].to_list() == [1] * 1000  # the complete old version, not a torn new one
    assert lake.partition_days("validated", "conn") == [DAY]

    # The dead writer's lock (pid gone on this host) is broken, its staging is cleared.
    lake.write_partition("validated", "conn", DAY, pl.DataFrame({"v": list(range(5000))}))
    assert lake.read_partition("validated", "conn", DAY).height == 5000
    staging = lake.path("_staging", "validated", "conn", f"date={DAY}")
    assert not os.path.exists(staging) or os.listdir(staging) == []


def test_concurrent_writers_never_tear_a_partition(tmp_path):
    """Two writers replace one partition in turn while a reader watches: every read is one
    writer's complete frame."""
    sizes = {1: 20_000, 2: 30_000}
    errors: list[str] = []
    stop = threading.Event()

    def writer(value: int) -> None:
        lake = Lake(str(tmp_path))
        for _ in range(6):
            lake.write_partition(
                "validated", "conn", DAY, pl.DataFrame({"v": [value] * sizes[value]})
            )

    def reader() -> None:
        lake = Lake(str(tmp_path))
        while not stop.is_set():
            df = lake.read_partition("validated", "conn", DAY)
            if df is None:
                continue
            values = set(df["v"].to_list())
            if len(values) != 1 or df.height != sizes[values.pop()]:
                errors.append(f"torn read: {df.height} rows")

    Lake(str(tmp_path)).write_partition("validated", "conn", DAY, pl.DataFrame({"v": [1] * 20_000}))
    threads = [threading.Thread(target=writer, args=(v,)) for v in (1, 2)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert errors == []


def test_lock_excludes_a_second_holder_until_released(tmp_path):
    holder, other = Lake(str(tmp_path)), Lake(str(tmp_path))
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.partition_lock("validated", "conn", DAY):
            taken.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    taken.wait(30)
    with (
        pytest.raises(LockTimeout, match="held by"),
        other.partition_lock("validated", "conn", DAY, timeout=0.3),
    ):
        pass
    release.set()
    t.join()
    with other.partition_lock("validated", "conn", DAY, timeout=5):
        pass


def test_lock_is_reentrant_and_covers_several_partitions(tmp_path):
    lake = Lake(str(tmp_path))
    parts = [("validated", "conn", DAY), ("quarantine", "conn", DAY)]
    with lake.lock_partitions(parts):
        # write_partition takes the same lock again: no self-deadlock
        lake.write_partition("validated", "conn", DAY, pl.DataFrame({"v": [1]}))
        lake.write_partition("quarantine", "conn", DAY, pl.DataFrame({"v": [2]}))
        assert os.path.exists(lake.path("_locks", "validated", "conn", f"date={DAY}.lock"))
    assert not os.path.exists(lake.path("_locks", "validated", "conn", f"date={DAY}.lock"))


def test_stale_lock_of_a_silent_holder_is_broken(tmp_path):
    lake = Lake(str(tmp_path))
    path = lake.path("_locks", "validated", "conn", f"date={DAY}.lock")
    os.makedirs(os.path.dirname(path))
    silent = {"token": "x", "host": "elsewhere", "pid": 1, "heartbeat": time.time() - 3600}
    with open(path, "w") as fh:  # another host's writer that stopped heart-beating long ago
        json.dump(silent, fh)
    with lake.partition_lock("validated", "conn", DAY, timeout=5, stale_after=60), open(path) as fh:
        assert json.load(fh)["host"] != "elsewhere"


def test_live_lock_of_another_host_is_respected(tmp_path):
    lake = Lake(str(tmp_path))
    path = lake.path("_locks", "validated", "conn", f"date={DAY}.lock")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as fh:
        json.dump({"token": "x", "host": "elsewhere", "pid": 1, "heartbeat": time.time()}, fh)
    with pytest.raises(LockTimeout), lake.partition_lock("validated", "conn", DAY, timeout=0.3):
        pass


def test_with_retries_retries_transient_errors_only():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("reset by peer")
        return "ok"

    assert with_retries(flaky, base_delay=0) == "ok"
    assert len(calls) == 3

    def missing():
        calls.append(1)
        raise FileNotFoundError("gone")

    calls.clear()
    with pytest.raises(FileNotFoundError):
        with_retries(missing, base_delay=0)
    assert len(calls) == 1


def test_raw_inventory_lists_dated_log_files(tmp_path):
    lake = Lake(str(tmp_path))
    for rel in (
        "raw/zeek/s1/2017-04-02/conn.00:00:00-01:00:00.log.gz",
        "raw/zeek/s1/2017-04-03/dns.log",
        "raw/zeek/s2/2017-04-03/conn.log",
        "raw/zeek/s1/ground_truth.json",  # not in a dated folder: not a log
        "raw/zeek/s1/notes/readme.txt",
    ):
        lake.write_bytes(rel, b"x")
    files = lake.raw_inventory()
    assert sorted((f.sensor, f.day.isoformat(), os.path.basename(f.path)) for f in files) == [
        ("s1", "2017-04-02", "conn.00:00:00-01:00:00.log.gz"),
        ("s1", "2017-04-03", "dns.log"),
        ("s2", "2017-04-03", "conn.log"),
    ]
    assert all(f.modified > 0 for f in files)
    assert lake.raw_sensors() == ["s1", "s2"]
    assert [os.path.basename(p) for p in lake.raw_files("s1", DAY)] == [
        "conn.00:00:00-01:00:00.log.gz"
    ]
