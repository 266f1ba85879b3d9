"""Issue 12: a missing raw zone never empties a published day; every entry of a raw folder is
read or listed as skipped (the file-name rule, directories, symlinks leaving the zone)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from pathlib import Path

import pytest
from pipeline_run import run_days
from zeek_factory import CONN_FIELDS, conn_record, epoch, tsv_block

from assets.lake import Lake
from assets.rawzone import RawZoneMissing, check_raw_root
from assets.simulate.run import simulate
from assets.validated.inputs import collect_raw_inputs
from assets.validated.transform import validate_partition

DAY = dt.date(2017, 5, 16)


def _published(root: Path) -> dict[str, str]:
    """Every published byte of the lake (tables and reports), by path."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith(("raw/", "_staging/", "_locks/")):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def published_day(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    simulate(Lake(str(root)), start=DAY, end=DAY, sessions_per_day=150, seed=3)
    assert run_days(str(root), DAY).success
    return root


def _copy(published_day: Path, tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    shutil.copytree(published_day, root, symlinks=True)
    return root


@pytest.mark.parametrize("raw", ["unmounted", "missing"])
def test_unmounted_raw_zone_changes_no_published_byte(published_day, tmp_path, raw):
    root = _copy(published_day, tmp_path)
    before = _published(root)
    assert any(k.startswith("validated/conn/") for k in before)
    mount = tmp_path / "mnt" / "raw"
    if raw == "unmounted":
        mount.mkdir(parents=True)  # an empty mount point
    result = run_days(str(root), DAY, raw_root=str(mount), raise_on_error=False)
    assert not result.success
    assert _published(root) == before


def test_a_vanished_sensor_folder_fails_the_day_and_keeps_it(published_day, tmp_path, monkeypatch):
    root = _copy(published_day, tmp_path)
    before = _published(root)
    for folder in (root / "raw" / "zeek").glob("*/*"):
        if folder.is_dir():
            shutil.rmtree(folder)  # the sensor folder stays, its dated folders are gone
    result = run_days(str(root), DAY, raise_on_error=False)
    assert not result.success
    assert _published(root) == before
    monkeypatch.setenv("HERMIT_REPUBLISH_EMPTY", "1")  # the documented way to empty a day
    assert run_days(str(root), DAY).success
    assert Lake(str(root)).partition_rows("validated", "conn", DAY) == 0


def test_a_vanished_day_folder_is_refused_even_when_the_next_folder_remains(
    published_day, tmp_path
):
    root = _copy(published_day, tmp_path)
    (folder,) = [p for p in (root / "raw" / "zeek").glob(f"*/{DAY}") if p.is_dir()]
    later = folder.parent / (DAY + dt.timedelta(days=1)).isoformat()
    later.mkdir(exist_ok=True)
    late = conn_record(epoch(DAY, 23, 59), "CLATE0000000001")  # logged after midnight
    (later / "conn.00:00:00-01:00:00.log").write_text(tsv_block(CONN_FIELDS, [late]))
    before = _published(root)
    shutil.rmtree(folder)
    result = run_days(str(root), DAY, raise_on_error=False)
    assert not result.success
    assert _published(root) == before


def test_missing_bucket_is_an_error_and_is_not_created(s3_bucket):
    import boto3

    lake = Lake(f"{s3_bucket.url}/lake", raw_root="s3://hermit-no-such-bucket/raw")
    with pytest.raises(RawZoneMissing):
        check_raw_root(lake)
    names = [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    assert "hermit-no-such-bucket" not in names
    empty_prefix = Lake(f"{s3_bucket.url}/lake")
    with pytest.raises(RawZoneMissing):
        check_raw_root(empty_prefix)


# ---- which files are logs ------------------------------------------------------------------
READ = [
    "conn.log",
    "conn.log.gz",
    "conn.00:00:00-01:00:00.log.gz",
    "conn.17_32_32-18_00_00.log.gz",
    "conn.2024-04-29-15-00-00.log",
    "conn.json",
]
SKIPPED = [
    "conn.log.bak",
    "conn.log.tmp",
    "conn.log.swp",
    ".conn.log.swp",
    "conn.log.1",
    "conn.log.gz.part",
    "conn.log~",
    "conn.log.bz2",
    "conn.foo.log",
    "files.log",  # a log hermit has no table for
    "README",
]


def _lake_with(tmp_path: Path, names: list[str]) -> tuple[Lake, Path]:
    folder = tmp_path / "raw" / "zeek" / "s1" / DAY.isoformat()
    folder.mkdir(parents=True)
    row = tsv_block(CONN_FIELDS, [conn_record(epoch(DAY, 3), "C1")])
    for name in names:
        (folder / name).write_text(row)
    return Lake(str(tmp_path)), folder


def test_the_file_name_rule_reads_logs_and_lists_the_rest(tmp_path):
    lake, folder = _lake_with(tmp_path, READ + SKIPPED + ["dns.log"])
    (folder / "ssl.log").mkdir()  # directories named like logs
    (folder / "conn.01:00:00-02:00:00.log").mkdir()
    inputs = collect_raw_inputs(lake, "conn", DAY, 0)
    assert sorted(Path(f.source_file).name for f in inputs.files) == sorted(READ)
    skipped = {Path(p).name: why for p, why in inputs.skipped.items()}
    # dns.log is dns's, not skipped
    assert sorted(skipped) == sorted([*SKIPPED, "ssl.log", "conn.01:00:00-02:00:00.log"])
    assert "directory" in skipped["conn.01:00:00-02:00:00.log"]
    assert "partial" in skipped["conn.log.gz.part"] and "directory" in skipped["ssl.log"]
    assert "files" in skipped["files.log"]


def test_a_symlinked_file_outside_the_zone_is_not_read(tmp_path, monkeypatch):
    secret = tmp_path / "elsewhere" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0\n")
    lake, folder = _lake_with(tmp_path / "lake", ["conn.00:00:00-01:00:00.log"])
    (folder / "conn.01:00:00-02:00:00.log").symlink_to(secret)
    (folder / "conn.02:00:00-03:00:00.log").symlink_to(folder / "conn.00:00:00-01:00:00.log")
    inputs = collect_raw_inputs(lake, "conn", DAY, 0)
    names = [Path(f.source_file).name for f in inputs.files]
    assert names == ["conn.00:00:00-01:00:00.log", "conn.02:00:00-03:00:00.log"]
    (why,) = inputs.skipped.values()
    assert "outside the raw zone" in why
    result = validate_partition(inputs.files, "conn", DAY, 0)
    assert "root:x" not in "".join(result.quarantine["raw"].to_list())
    monkeypatch.setenv("HERMIT_RAW_LINKS", "any")
    assert len(collect_raw_inputs(lake, "conn", DAY, 0).files) == 3


def test_a_linked_sensor_folder_is_read(tmp_path):
    logs = tmp_path / "sensor-logs"
    (logs / DAY.isoformat()).mkdir(parents=True)
    (logs / DAY.isoformat() / "conn.log").write_text(
        tsv_block(CONN_FIELDS, [conn_record(epoch(DAY, 3), "C1")])
    )
    (tmp_path / "lake" / "raw" / "zeek").mkdir(parents=True)
    (tmp_path / "lake" / "raw" / "zeek" / "s1").symlink_to(logs)
    inputs = collect_raw_inputs(Lake(str(tmp_path / "lake")), "conn", DAY, 0)
    assert len(inputs.files) == 1 and not inputs.skipped


def test_a_symlink_loop_is_one_unreadable_entry_and_the_day_goes_on(tmp_path):
    lake, folder = _lake_with(tmp_path, ["conn.00:00:00-01:00:00.log"])
    loop = folder / "conn.01:00:00-02:00:00.log"
    os.symlink(loop, loop)
    inputs = collect_raw_inputs(lake, "conn", DAY, 0)
    result = validate_partition(inputs.files, "conn", DAY, 0)
    assert result.valid.height == 1
    assert result.quarantine["reason"].to_list() == ["unreadable_file"]
    assert result.quarantine["source_file"][0].endswith("conn.01:00:00-02:00:00.log")


def test_an_s3_raw_zone_that_comes_back_empty_keeps_the_published_day(s3_bucket):

    from assets.rawzone import RawInputMissing
    from assets.validated.inputs import guard_published

    lake = Lake(f"{s3_bucket.url}/lake")
    day = dt.date(2024, 4, 19)
    row = tsv_block(CONN_FIELDS, [conn_record(epoch(day, 3), "C1")])
    lake.raw_fs.pipe_file(lake.raw_path("zeek", "s1", day.isoformat(), "conn.log"), row.encode())
    files = collect_raw_inputs(lake, "conn", day, 1).files
    result = validate_partition(files, "conn", day)
    lake.write_partition("validated", "conn", day, result.valid)
    guard_published(lake, "conn", day, files)  # the input is there: re-publishing is fine
    # the store comes back with the other day only: the day's objects are gone
    lake.raw_fs.rm(lake.raw_path("zeek", "s1", day.isoformat()), recursive=True)
    other = lake.raw_path("zeek", "s1", "2024-04-25", "conn.log")
    lake.raw_fs.pipe_file(other, row.encode())
    check_raw_root(lake)  # the zone itself is there
    files = collect_raw_inputs(lake, "conn", day, 1).files
    assert files == []
    with pytest.raises(RawInputMissing, match="s1"):
        guard_published(lake, "conn", day, files)
    assert lake.read_partition("validated", "conn", day).equals(result.valid)


def test_skipped_files_are_listed_in_the_materialisation_metadata(published_day, tmp_path):
    root = _copy(published_day, tmp_path)
    (folder,) = [p for p in (root / "raw" / "zeek").glob(f"*/{DAY}") if p.is_dir()]
    (folder / "conn.log.bak").write_text("a backup\n")
    (folder / "weird.log").write_text("#path\tweird\n")
    result = run_days(str(root), DAY)
    assert result.success
    (md,) = [
        {k: v.value for k, v in m.metadata.items()}
        for m in (
            e.event_specific_data.materialization
            for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"
        )
        if m.asset_key.path == ["validated", "conn"]
    ]
    assert md["skipped_files"] == 2
    assert "conn.log.bak: editor, backup or partial file" in md["skipped"]
    assert "weird.log: log 'weird' is not one hermit reads" in md["skipped"]
