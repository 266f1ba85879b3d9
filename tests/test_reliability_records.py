"""Issue 12: one bad record is one quarantine row; text is read as it is (CRLF, non-UTF-8,
a last line without its newline); a damaged or unreadable file costs only what it must."""

from __future__ import annotations

import datetime as dt
import gzip
import random
import zlib

import pytest
from zeek_factory import (
    CONN_FIELDS,
    bulk_conn_tsv,
    conn_record,
    epoch,
    gz,
    json_lines,
    raw_file,
    tsv_block,
)

from assets.validated.transform import validate_partition

DAY = dt.date(2024, 4, 19)


def _conn(rows, name="conn.log", folder=DAY):
    return validate_partition([raw_file(tsv_block(CONN_FIELDS, rows), folder, name)], "conn", DAY)


def _good(n: int, start: int = 0) -> list[dict]:
    return [conn_record(epoch(DAY, 1, second=i), f"C{start + i}") for i in range(n)]


@pytest.mark.parametrize(
    "ts", ["nan", "NaN", "inf", "-inf", "1e13", "-1e13", "1e300", "99999999999999999999"]
)
def test_a_non_finite_or_out_of_range_ts_is_one_type_error(ts: str):
    rows = [*_good(3), {**conn_record(0, "Cbad"), "ts": ts}]
    result = _conn(rows)
    assert result.valid.height == 3
    assert result.quarantine["reason"].to_list() == ["type_error"]
    assert f"ts '{ts}'" in result.quarantine["detail"][0]


@pytest.mark.parametrize("ts", ["nan", 1e13, -1e13, 1e300, "inf", "-1e400"])
def test_json_ts_beyond_range_is_one_type_error(ts: object):
    good = [
        {
            "ts": epoch(DAY, 2),
            "uid": "C1",
            "id.orig_h": "10.0.0.1",
            "id.orig_p": 1,
            "id.resp_h": "10.0.0.2",
            "id.resp_p": 2,
            "proto": "tcp",
        }
    ]
    bad = {**good[0], "uid": "C2", "ts": ts}
    text = json_lines([*good, bad])
    result = validate_partition([raw_file(text, DAY)], "conn", DAY)
    assert result.valid["uid"].to_list() == ["C1"]
    assert result.quarantine["reason"].to_list() == ["type_error"]


def test_huge_counts_are_type_errors():
    rows = [*_good(2), conn_record(epoch(DAY, 3), "Cbig", orig_bytes="1" + "0" * 30)]
    result = _conn(rows)
    assert result.valid.height == 2
    assert result.quarantine["reason"].to_list() == ["type_error"]


def test_crlf_file_reads_as_zeek_wrote_it():
    text = tsv_block(CONN_FIELDS, _good(5)).replace("\n", "\r\n")
    result = validate_partition([raw_file(text, DAY)], "conn", DAY)
    assert result.valid.height == 5
    assert result.quarantine.height == 0
    assert result.valid["tunnel_parents"].to_list() == [None] * 5  # no stray "\r" in a value


def test_non_utf8_bytes_are_kept_as_zeek_escapes_never_replaced():
    text = tsv_block(CONN_FIELDS, _good(2)).encode().replace(b"ShADadFf", b"Sh\xff\xfe", 1)
    result = validate_partition([raw_file(text, DAY)], "conn", DAY)
    history = result.valid["history"].to_list()
    assert "\ufffd" not in "".join(history)
    assert r"Sh\xff\xfe" in history


def test_non_utf8_bytes_in_json_are_kept_as_escapes():
    line = (
        b'{"ts":%f,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2",'
        b'"id.resp_p":2,"proto":"tcp","history":"S\xffh"}\n' % epoch(DAY, 2)
    )
    result = validate_partition([raw_file(line, DAY)], "conn", DAY)
    assert result.valid["history"].to_list() == [r"S\xffh"]


def test_complete_last_record_without_newline_is_a_record():
    text = tsv_block(CONN_FIELDS, _good(3), close=False).rstrip("\n")
    result = validate_partition([raw_file(text, DAY)], "conn", DAY)
    assert result.valid.height == 3
    assert result.quarantine.height == 0


def test_cut_last_line_is_still_truncated():
    text = tsv_block(CONN_FIELDS, _good(3), close=False).rstrip("\n")
    text = text[: text.rfind("\t", 0, len(text) - 40)]  # cut a few fields off the last line
    result = validate_partition([raw_file(text, DAY)], "conn", DAY)
    assert result.valid.height == 2
    assert result.quarantine["reason"].to_list() == ["truncated_line"]


def test_empty_gz_file_is_flagged():
    result = validate_partition([raw_file(b"", DAY, "conn.log.gz")], "conn", DAY)
    assert result.quarantine["reason"].to_list() == ["corrupt_stream"]
    assert result.counts["raw_records"] == 1


def test_empty_plain_log_is_just_empty():
    result = validate_partition([raw_file(b"", DAY, "conn.log")], "conn", DAY)
    assert result.quarantine.height == 0 and result.valid.height == 0


def _zcat_lines(data: bytes) -> int:
    """Complete lines `zcat` writes before the damage: inflate a byte at a time."""
    d, out = zlib.decompressobj(wbits=31), []
    for i in range(len(data)):
        try:
            out.append(d.decompress(data[i : i + 1]))
        except zlib.error:
            break
    return b"".join(out).count(b"\n")


def test_small_gzip_damaged_in_the_middle_keeps_what_zcat_keeps():
    rng = random.Random(3)
    rows = [
        conn_record(
            epoch(DAY, 4, second=i), f"C{rng.getrandbits(64):x}", orig_bytes=rng.randrange(10**9)
        )
        for i in range(400)
    ]
    text = tsv_block(CONN_FIELDS, rows)
    data = bytearray(gz(text))
    assert len(data) < 1 << 16  # one salvage chunk: the case that lost everything
    mid = len(data) // 2
    data[mid : mid + 8] = bytes(8)
    data = bytes(data)
    with pytest.raises((OSError, EOFError, zlib.error)):
        gzip.decompress(data)
    header_lines = 8
    intact = zlib.decompressobj(wbits=31).decompress(data[:mid]).count(b"\n") - header_lines
    assert intact > 100
    result = validate_partition([raw_file(data, DAY, "conn.log.gz")], "conn", DAY)
    assert result.valid.height >= intact  # every record before the damage is kept
    reasons = result.quarantine["reason"].to_list()
    assert reasons.count("corrupt_stream") == 1
    # every line zcat writes is a record: valid, or quarantined for what the damage did to it
    assert result.valid.height + len(reasons) - 1 == _zcat_lines(data) - header_lines
    c = result.counts
    assert c["raw_records"] == c["valid"] + c["quarantined"]


def test_unreadable_file_is_one_entry_and_the_day_goes_on():
    def boom() -> bytes:
        raise OSError(40, "Too many levels of symbolic links")

    good = raw_file(tsv_block(CONN_FIELDS, _good(4)), DAY, "conn.00:00:00-01:00:00.log")
    bad = raw_file("", DAY, "conn.01:00:00-02:00:00.log")
    bad = type(bad)(bad.source_file, bad.folder_day, bad.sensor, boom)
    result = validate_partition([good, bad], "conn", DAY)
    assert result.valid.height == 4
    q = result.quarantine.row(0, named=True)
    assert q["reason"] == "unreadable_file"
    assert q["source_file"] == bad.source_file
    assert "symbolic links" in q["detail"]
    assert result.counts["raw_records"] == 5


def test_a_json_line_python_reads_but_polars_does_not_is_never_dropped():
    # found by the fuzz test: a NaN literal (Python's json extension) was silently lost
    good = (
        f'{{"ts":{epoch(DAY, 2):f},"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,'
        '"id.resp_h":"10.0.0.2","id.resp_p":2,"proto":"tcp"}'
    )
    text = good + "\n" + good.replace('"C1"', '"C2"').replace('"tcp"', "NaN") + "\n"
    result = validate_partition([raw_file(text, DAY)], "conn", DAY)
    assert result.valid["uid"].to_list() == ["C1"]
    assert result.quarantine["reason"].to_list() == ["parse_error"]
    assert result.counts["raw_records"] == 2


@pytest.mark.parametrize("seed", range(4))
def test_a_damaged_gzip_of_a_few_hundred_kb_never_raises(seed):
    data = bytearray(gz(bulk_conn_tsv(20_000, DAY, seed=seed)))
    assert len(data) > 200_000
    rng = random.Random(seed)
    for _ in range(3):  # a few damaged bytes anywhere past the header
        data[rng.randrange(20, len(data))] ^= rng.randrange(1, 256)
    result = validate_partition([raw_file(bytes(data), DAY, "conn.log.gz")], "conn", DAY)
    c = result.counts
    assert (
        c["raw_records"]
        == c["valid"]
        + c["quarantined"]
        - c["from_later_folders"]
        + c["to_earlier_partitions"]
        + c["to_later_partitions"]
        - c["from_earlier_folders"]
    )
    assert c["valid"] > 0


def test_a_header_naming_a_field_twice_quarantines_its_lines():
    # found by the fuzz test: a damaged #fields line raised DuplicateError
    text = tsv_block(CONN_FIELDS, _good(3)).replace("\tuid\t", "\tts\t", 1)
    result = validate_partition([raw_file(text, DAY)], "conn", DAY)
    assert result.valid.height == 0
    assert result.quarantine["reason"].to_list() == ["parse_error"] * 3
    assert "names a field twice (ts)" in result.quarantine["detail"][0]
    assert result.counts["raw_records"] == 3


def test_flagged_lines_of_a_header_without_known_fields_are_explained():
    # found by the fuzz test: records flagged without any field check raised ShapeError
    fields = {"when": "time", "what": "string"}
    rows = [{"when": f"{epoch(DAY, 1):.6f}", "what": "a"}, {"when": "x", "what": "b"}]
    result = validate_partition([raw_file(tsv_block(fields, rows), DAY)], "conn", DAY)
    assert result.valid.height == 0
    assert result.quarantine["reason"].to_list() == ["missing_field"] * 2
    assert result.counts["raw_records"] == 2
