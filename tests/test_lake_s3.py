"""The lake on S3 (moto's server on loopback, reached through the standard AWS variables)."""

from __future__ import annotations

import datetime as dt
import threading

import polars as pl
import pytest

from assets.lake import Lake, LockTimeout

pytestmark = pytest.mark.s3

DAY = dt.date(2017, 4, 2)


def test_partition_write_replace_read_on_s3(s3_bucket):
    lake = Lake(f"{s3_bucket.url}/lake")
    assert not lake.is_local
    lake.write_partition("validated", "dns", DAY, pl.DataFrame({"q": ["a", "b", "c"]}))
    lake.write_partition("validated", "dns", DAY, pl.DataFrame({"q": ["x"]}))
    lake.write_partition("validated", "dns", DAY + dt.timedelta(days=1), pl.DataFrame({"q": ["y"]}))

    fresh = Lake(f"{s3_bucket.url}/lake")  # another process's view: nothing cached
    assert fresh.read_partition("validated", "dns", DAY)["q"].to_list() == ["x"]
    assert fresh.partition_days("validated", "dns") == [DAY, DAY + dt.timedelta(days=1)]
    assert fresh.partition_rows("validated", "dns", DAY) == 1
    assert fresh.fs.ls(fresh.partition_dir("validated", "dns", DAY), detail=False) == [
        f"{s3_bucket.bucket}/lake/validated/dns/date={DAY}/part-0.parquet"
    ]
    assert lake.url("validated", "dns") == f"{s3_bucket.url}/lake/validated/dns"
    # no lock or staging object outlives a finished write
    assert fresh.fs.find(fresh.path("_locks")) == []
    assert fresh.fs.find(fresh.path("_staging")) == []


def test_same_tables_as_the_local_lake(s3_bucket, tmp_path):
    frame = pl.DataFrame({"ts": [1, 2], "host": ["a.example", None]})
    local, remote = Lake(str(tmp_path)), Lake(f"{s3_bucket.url}/lake")
    for lake in (local, remote):
        lake.write_partition("categorised", "sessions", DAY, frame)
    a = local.read_partition("categorised", "sessions", DAY)
    b = remote.read_partition("categorised", "sessions", DAY)
    assert a.equals(b) and a.schema == b.schema


def test_column_reads_and_lazy_scans_on_s3_match_the_local_lake(s3_bucket, tmp_path):
    frame = pl.DataFrame(
        {
            "ts": pl.Series([1, 2, 3], dtype=pl.Datetime("us", "UTC")),
            "uid": ["Ca", "Cb", "Cc"],
            "answers": [["1.2.3.4"], [], None],
            "n": pl.Series([1, None, 3], dtype=pl.Int32),
        }
    )
    local, remote = Lake(str(tmp_path)), Lake(f"{s3_bucket.url}/lake")
    for lake in (local, remote):
        lake.write_partition("validated", "dns", DAY, frame)
    wanted = ["answers", "ts", "not_in_file"]
    got = remote.read_partition("validated", "dns", DAY, wanted)
    assert got.equals(local.read_partition("validated", "dns", DAY, wanted))
    assert got.columns == ["answers", "ts"] and got.schema == frame.select(got.columns).schema
    query = pl.col("n").sum()
    with remote.scan_partition("validated", "dns", DAY) as lf:
        assert lf.select(query).collect().item() == 4
    with remote.scan_partition("validated", "dns", DAY + dt.timedelta(days=1)) as absent:
        assert absent is None


def test_killed_writer_leaves_old_partition_on_s3(s3_bucket, killed_writer):
    root = f"{s3_bucket.url}/lake"
    killed_writer(root)
    lake = Lake(root)
    assert lake.read_partition("validated", "conn", DAY)["v"].to_list() == [1] * 1000
    lake.write_partition("validated", "conn", DAY, pl.DataFrame({"v": [5, 6]}))
    assert lake.read_partition("validated", "conn", DAY)["v"].to_list() == [5, 6]


def test_lock_is_exclusive_on_s3(s3_bucket):
    root = f"{s3_bucket.url}/lake"
    holder, other = Lake(root), Lake(root)
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.partition_lock("validated", "conn", DAY):
            taken.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    taken.wait(30)
    try:
        with (
            pytest.raises(LockTimeout),
            other.partition_lock("validated", "conn", DAY, timeout=0.5),
        ):
            pass
    finally:
        release.set()
        t.join()
    with other.partition_lock("validated", "conn", DAY, timeout=5):
        pass


def test_conditional_put_refuses_a_second_creator(s3_bucket):
    # The primitive the lock relies on: S3 (here moto) honours If-None-Match: *.
    lake = Lake(f"{s3_bucket.url}/lake")
    path = lake.path("_locks", "probe.lock")
    lake.fs.pipe_file(path, b"first", mode="create")
    with pytest.raises(FileExistsError):
        lake.fs.pipe_file(path, b"second", mode="create")
    assert lake.fs.cat_file(path) == b"first"


def test_raw_listing_on_s3_sees_new_files(s3_bucket):
    lake = Lake(f"{s3_bucket.url}/lake")
    lake.write_bytes("raw/zeek/s1/2017-04-02/conn.log", b"x")
    assert [f.day for f in lake.raw_inventory()] == [DAY]
    # a file landing after a listing must be seen by the next one (no stale listing cache)
    lake.write_bytes("raw/zeek/s1/2017-04-03/conn.log", b"y")
    lake.write_bytes("raw/zeek/s2/2017-04-03/dns.log.gz", b"z")
    files = lake.raw_inventory()
    assert sorted((f.sensor, f.day.isoformat()) for f in files) == [
        ("s1", "2017-04-02"),
        ("s1", "2017-04-03"),
        ("s2", "2017-04-03"),
    ]
    assert all(f.modified > 0 and f.size == 1 for f in files)
    assert lake.raw_sensors() == ["s1", "s2"]
    assert [p.rsplit("/", 1)[1] for p in lake.raw_files("s2", DAY + dt.timedelta(days=1))] == [
        "dns.log.gz"
    ]
    assert lake.read_raw_bytes(files[0].path) in {b"x", b"y", b"z"}
