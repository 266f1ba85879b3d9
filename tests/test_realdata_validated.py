"""Validation of the real Zeek logs in ../shared/realdata (skipped when absent)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from assets.validated.schemas import REQUIRED_FIELDS, TABLES, VALIDATED_SCHEMAS, ZEEK_FIELDS
from assets.validated.transform import RawFile, log_table, validate_partition
from assets.zeek.convert import REASON, convert
from assets.zeek.reader import read_zeek

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
ARCHIVE = REALDATA / "zeek-sensor-archive"
ZAT = REALDATA / "zeek-zat"
SENSOR = "rita-sensor"

pytestmark = pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata is absent")


def archive_files(table: str) -> list[RawFile]:
    """The archive as the raw zone `<raw>/zeek/<sensor>/<day>/...` of one sensor."""
    return [
        RawFile(
            source_file=f"zeek/{SENSOR}/{p.parent.name}/{p.name}",
            folder_day=dt.date.fromisoformat(p.parent.name),
            sensor=SENSOR,
            load=p.read_bytes,
        )
        for p in sorted(ARCHIVE.glob("*/*"))
        if p.parent.name[:4].isdigit() and log_table(p.name) == table
    ]


def data_lines(files: list[RawFile]) -> int:
    return sum(
        1
        for f in files
        for line in gzip.decompress(f.load()).splitlines()
        if line and not line.startswith(b"#")
    )


@pytest.fixture(scope="module", params=TABLES)
def archive(request):
    table = request.param
    files = archive_files(table)
    days = sorted({f.folder_day for f in files})
    partitions = [days[0] - dt.timedelta(days=1), *days]  # records before the first folder
    results = {}
    for day in partitions:
        window = [f for f in files if day <= f.folder_day <= day + dt.timedelta(days=1)]
        results[day] = validate_partition(window, table, day, lateness_days=1)
    return table, files, results


def test_archive_every_record_lands_once(archive):
    table, files, results = archive
    assert [d.isoformat() for d in sorted({f.folder_day for f in files})] == [
        "2024-04-19",
        "2024-04-20",
        "2024-04-21",
    ]
    for r in results.values():
        c = r.counts
        assert c["raw_records"] == (
            c["valid"]
            - c["from_later_folders"]
            - c["from_earlier_folders"]
            + c["quarantined"]
            + c["to_earlier_partitions"]
            + c["to_later_partitions"]
        )
        assert r.valid.schema == pl.Schema(VALIDATED_SCHEMAS[table])
        # each partition holds only its own day
        assert r.valid["ts"].dt.date().unique().to_list() in (
            [],
            [next(k for k, v in results.items() if v is r)],
        )
    total = sum(r.counts["valid"] + r.counts["quarantined"] for r in results.values())
    assert total == sum(r.counts["raw_records"] for r in results.values()) == data_lines(files)


def test_archive_quarantine_is_only_what_the_data_holds(archive):
    table, _, results = archive
    reasons = set(pl.concat([r.quarantine for r in results.values()])["reason"])
    # the sensor logs some DNS transactions twice, line for line; nothing else is wrong
    assert reasons == ({"duplicate"} if table == "dns" else set())


def test_archive_records_logged_after_midnight_go_to_their_own_day():
    files = archive_files("conn")
    day = dt.date(2024, 4, 19)
    window = [f for f in files if day <= f.folder_day <= day + dt.timedelta(days=1)]
    r = validate_partition(window, "conn", day)
    # 4 records of folder 04-19 started on 04-18; 14 of folder 04-20 started on 04-19
    assert (r.counts["to_earlier_partitions"], r.counts["from_later_folders"]) == (4, 14)
    assert r.valid["node_name"].unique().to_list() == ["worker-eth0-1"]
    assert r.valid["ts"].is_sorted()


def test_archive_http_beacon_with_blank_host():
    day = dt.date(2024, 4, 20)
    files = [f for f in archive_files("http") if day <= f.folder_day]
    valid = validate_partition(files, "http", day).valid
    beacon = valid.filter(pl.col("user_agent") == "Modzilla/0.0001 (Atari 7800)")
    assert beacon.height > 100
    assert beacon["host"].unique().to_list() == [""]  # Zeek's (empty) marker
    assert beacon["id_orig_h"].unique().to_list() == ["73.54.23.243"]
    gaps = beacon["ts"].diff().drop_nulls().dt.total_seconds()
    assert gaps.median() > 150


# --- single zat logs: what a user expects from each ------------------------------------

ZAT_TABLE = {
    "tor_ssl": "ssl",
    "http_empty": "http",
    "conn_date_issue": "conn",
    "http_with_comment": "http",
}


def typed(path: Path, table: str):
    read = read_zeek(path.read_bytes())
    frames = [convert(s, ZEEK_FIELDS[table], REQUIRED_FIELDS[table]) for s in read.segments]
    return read, (pl.concat(frames) if frames else None)


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("conn.log", 360),
        ("dns.log", 54),
        ("http.log", 150),
        ("http.log.gz", 150),
        ("ssl.log", 37),
        ("tor_ssl.log", 733),
        ("json/conn.log", 50),
        ("json/dns.log", 50),
        ("json/http.log", 28),
        ("json/ssl.log", 50),
        ("http_with_comment.log", None),
    ],
)
def test_zat_logs_give_sound_typed_rows(name, rows):
    path = ZAT / name
    if not path.exists():
        pytest.skip(f"{name} is not in this copy of the data")
    table = ZAT_TABLE.get(path.name.split(".")[0], path.name.split(".")[0])
    read, out = typed(path, table)
    assert read.problems.height == 0
    assert out is not None and out[REASON].null_count() == out.height
    if rows is not None:
        assert out.height == rows
    assert out["ts"].null_count() == 0 and out["uid"].null_count() == 0


def test_zat_ssl_fields_the_table_does_not_know_go_to_extra():
    read, out = typed(ZAT / "ssl.log", "ssl")
    unknown = set(read.segments[0].fields) - set(ZEEK_FIELDS["ssl"])
    keys = set().union(*(json.loads(e) for e in out["extra"].drop_nulls()))
    assert keys and keys <= unknown
    assert "cert_hash" in keys


def test_zat_corrupt_gzip_keeps_its_records_and_says_so():
    read, out = typed(ZAT / "http.log.corrupt.gz", "http")
    assert out.height == 150  # every record; only the gzip trailer is missing
    assert read.problems["reason"].to_list() == ["corrupt_stream"]
    assert "unexpected end" in read.problems["detail"][0]


def test_zat_empty_log_has_no_records():
    read = read_zeek((ZAT / "http_empty.log").read_bytes())
    assert read.records == 0 and read.path == "http"


def test_zat_date_issue_is_late_in_its_open_folder_and_valid_in_its_own_day():
    data = (ZAT / "conn_date_issue.log").read_bytes()

    def run(folder: dt.date):
        f = RawFile(f"zeek/zat/{folder}/conn.log", folder, "zat", lambda: data)
        return validate_partition([f], "conn", folder)

    opened = run(dt.date(2022, 4, 1))  # the file's #open date: its records are 15 days older
    assert opened.valid.height == 0
    assert opened.quarantine["reason"].to_list() == ["late"] * 3
    assert run(dt.date(2022, 3, 17)).valid.height == 3


@pytest.mark.parametrize(
    "name",
    sorted(p.relative_to(ZAT).as_posix() for p in ZAT.rglob("*.log*")) if ZAT.is_dir() else [],
)
def test_every_zat_file_reads_without_crashing(name):
    data = (ZAT / name).read_bytes()
    read = read_zeek(data)
    text = gzip.decompress(data) if name.endswith(".gz") and "corrupt" not in name else data
    if "corrupt" not in name:
        lines = [ln for ln in text.splitlines() if ln and not ln.startswith(b"#")]
        assert read.records == len(lines)
