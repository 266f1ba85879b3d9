"""The Zeek log reader: TSV headers, escapes, JSON, gzip, damaged input."""

from __future__ import annotations

import datetime as dt
import io
import json

import polars as pl
import pytest
from zeek_factory import CONN_FIELDS, DNS_FIELDS, conn_record, epoch, gz, json_lines, tsv_block

from assets.validated.schemas import REQUIRED_FIELDS, ZEEK_FIELDS
from assets.validated.transform import log_table
from assets.zeek.convert import REASON, convert
from assets.zeek.header import Header, apply_directive
from assets.zeek.reader import iter_zeek, read_zeek

DAY = dt.date(2024, 4, 19)
TS = epoch(DAY, 10)


def typed(text: str | bytes, table: str = "conn") -> pl.DataFrame:
    data = text.encode() if isinstance(text, str) else text
    read = read_zeek(data)
    frames = [convert(s, ZEEK_FIELDS[table], REQUIRED_FIELDS[table]) for s in read.segments]
    return pl.concat(frames, how="vertical_relaxed")


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("conn.00:00:00-01:00:00.log.gz", "conn"),
        ("conn.log", "conn"),
        ("conn.log.gz", "conn"),
        ("dns.json", "dns"),
        ("conn.json.gz", "conn"),
        ("conn-summary.23:00:00-00:00:00.log.gz", "conn-summary"),
        ("http.log.corrupt.gz", None),  # not a Zeek name: skipped and listed (README)
        ("README", None),
        ("top_domains.csv", None),
    ],
)
def test_log_table_from_file_name(name, table):
    assert log_table(name) == table


def test_header_directives_are_decoded():
    h = Header()
    h = apply_directive(h, "#separator \\x7c")
    assert h.separator == "|"
    h = apply_directive(h, "#set_separator|;")
    h = apply_directive(h, "#empty_field|EMPTY")
    h = apply_directive(h, "#unset_field|NONE")
    h = apply_directive(h, "#fields|ts|uid")
    h = apply_directive(h, "#types|time|string")
    assert (h.set_separator, h.empty_field, h.unset_field) == (";", "EMPTY", "NONE")
    assert h.field_types() == {"ts": "time", "uid": "string"}


def test_tsv_values_are_typed():
    rec = conn_record(TS, "C1", duration="-", tunnel_parents="Cabc,Cdef", service="(empty)")
    row = typed(tsv_block(CONN_FIELDS, [rec])).row(0, named=True)
    assert row["ts"] == dt.datetime(2024, 4, 19, 10, tzinfo=dt.UTC)
    assert row["id_orig_p"] == 50000 and row["orig_bytes"] == 100
    assert row["duration"] is None  # unset
    assert row["service"] == ""  # (empty)
    assert row["local_orig"] is True and row["local_resp"] is False
    assert row["tunnel_parents"] == ["Cabc", "Cdef"]
    assert row[REASON] is None and row["extra"] is None and row["node_name"] is None


def test_timestamps_keep_microseconds_exactly():
    rec = conn_record(0, "C1") | {"ts": "1713484795.943239"}
    ts = typed(tsv_block(CONN_FIELDS, [rec]))["ts"][0]
    assert ts == dt.datetime(2024, 4, 18, 23, 59, 55, 943239, tzinfo=dt.UTC)


def test_custom_separators_and_markers():
    text = tsv_block(CONN_FIELDS, [conn_record(TS, "C1", tunnel_parents="a;b")], set_separator=";")
    text = text.replace("#unset_field\t-", "#unset_field\tNONE").replace("\t-\n", "\tNONE\n")
    text = text.replace("#separator \\x09", "#separator \\x7c").replace("\t", "|")
    row = typed(text).row(0, named=True)
    assert row["tunnel_parents"] == ["a", "b"]
    assert row["uid"] == "C1" and row["resp_bytes"] == 2000


def test_escapes_are_decoded_in_values_and_set_elements():
    dns = {f: "-" for f in DNS_FIELDS} | {
        "ts": f"{TS:.6f}",
        "uid": "D1",
        "id.orig_h": "10.0.0.1",
        "id.orig_p": "5353",
        "id.resp_h": "10.0.0.53",
        "id.resp_p": "53",
        "proto": "udp",
        "trans_id": "7",
        "query": "tab\\x09name\\xe4\\xbd\\xa0.example",
        "answers": "a\\x2cb,c",
        "TTLs": "60.000000,30.5",
    }
    row = typed(tsv_block(DNS_FIELDS, [dns], path="dns"), "dns").row(0, named=True)
    assert row["query"] == "tab\tname你.example"
    assert row["answers"] == ["a,b", "c"]  # an escaped set separator stays inside its element
    assert row["ttls"] == [60.0, 30.5]


def test_invalid_utf8_after_unescaping_stays_escaped():
    rec = conn_record(TS, "C1", history="x\\xffy")
    assert typed(tsv_block(CONN_FIELDS, [rec]))["history"][0] == "x\\xffy"


def test_several_header_blocks_with_different_fields():
    first = tsv_block(CONN_FIELDS, [conn_record(TS, "C1")])
    fewer = {k: v for k, v in CONN_FIELDS.items() if k != "history"} | {"vlan": "int"}
    rec = conn_record(TS + 1, "C2", vlan=42)
    second = tsv_block(fewer, [rec], node_name="worker-1")
    read = read_zeek((first + second).encode())
    assert [s.frame.height for s in read.segments] == [1, 1]
    assert read.segments[1].frame["__line"].to_list() == [len(first.splitlines()) + 9]
    out = typed(first + second)
    assert out["history"].to_list() == ["ShADadFf", None]
    assert out["node_name"].to_list() == [None, "worker-1"]
    assert json.loads(out["extra"][1]) == {"vlan": "42"}


def test_close_line_without_newline_is_not_a_record():
    text = tsv_block(CONN_FIELDS, [conn_record(TS, "C1")]).rstrip("\n")
    read = read_zeek(text.encode())
    assert read.records == 1 and read.problems.height == 0


def test_truncated_last_line_is_a_problem():
    text = tsv_block(CONN_FIELDS, [conn_record(TS, "C1"), conn_record(TS, "C2")], close=False)
    cut = text[: len(text) - 20]
    read = read_zeek(cut.encode())
    assert read.records == 2
    assert read.problems["reason"].to_list() == ["truncated_line"]
    assert read.problems["line_number"].to_list() == [10]
    assert cut.endswith(read.problems["raw"][0])


def test_short_long_and_blank_lines_are_parse_errors_others_kept():
    good = "\t".join(conn_record(TS, "C1").values())
    rows = [good, "\t".join(good.split("\t")[:5]), good + "\textra", "", good.replace("C1", "C4")]
    read = read_zeek(tsv_block(CONN_FIELDS, rows).encode())
    assert read.records == 5
    assert sorted(read.problems["line_number"].to_list()) == [10, 11, 12]
    assert read.problems["reason"].unique().to_list() == ["parse_error"]
    assert read.segments[0].frame["uid"].to_list() == ["C1", "C4"]


def test_data_before_any_fields_header_is_a_parse_error():
    read = read_zeek(b"1\t2\t3\n")
    assert read.problems["reason"].to_list() == ["parse_error"]


def test_bytes_that_are_not_utf8_do_not_crash():
    text = tsv_block(CONN_FIELDS, [conn_record(TS, "C1"), conn_record(TS, "C2")]).encode()
    read = read_zeek(text.replace(b"C2", b"C\xff\xfe2"))
    assert read.records == 2


def test_gzip_with_several_members():
    a = tsv_block(CONN_FIELDS, [conn_record(TS, "C1")])
    b = tsv_block(CONN_FIELDS, [conn_record(TS, "C2")])
    assert typed(gz(a) + gz(b))["uid"].to_list() == ["C1", "C2"]


def test_gzip_cut_mid_stream_keeps_every_complete_line_before_the_cut():
    rows = [conn_record(TS + i, f"C{i}") for i in range(2000)]
    blob = gz(tsv_block(CONN_FIELDS, rows))
    read = read_zeek(blob[: len(blob) // 2])
    kept = read.segments[0].frame["uid"].to_list()
    assert 500 < len(kept) < 2000
    assert kept == [f"C{i}" for i in range(len(kept))]
    assert read.problems["reason"].to_list() == ["corrupt_stream"]
    # the entry stands for the line the cut went through
    assert read.problems["line_number"][0] == 9 + len(kept)
    cut_line = "\t".join(conn_record(TS + len(kept), f"C{len(kept)}").values())
    assert cut_line.startswith(read.problems["raw"][0])


def test_gzip_with_garbage_inside_is_never_a_crash():
    rows = [conn_record(TS + i, f"C{i}") for i in range(2000)]
    blob = gz(tsv_block(CONN_FIELDS, rows))
    for damaged in (
        blob[: len(blob) // 2] + b"\x00garbage" * 50,
        blob[:3000] + bytes(b ^ 0x5A for b in blob[3000:3100]) + blob[3100:],
    ):
        read = read_zeek(damaged)
        # deflate notices damage only some bytes after it; what it inflated meanwhile is
        # junk that ends up as parse_error (or wrong-type) entries, never as a crash
        assert read.problems["reason"].to_list().count("corrupt_stream") == 1
        assert read.records == sum(s.frame.height for s in read.segments) + read.problems.height


def test_truncated_gzip_is_a_corrupt_stream_not_a_crash():
    blob = gz(tsv_block(CONN_FIELDS, [conn_record(TS, "C1")]))
    read = read_zeek(blob[:-10])
    assert read.problems["reason"].to_list() == ["corrupt_stream"]
    assert read_zeek(b"\x1f\x8b\x08garbage").records == 1


def test_json_lines_epoch_and_iso_timestamps():
    base = {k: v for k, v in conn_record(TS, "J1").items() if v != "-"}
    first = base | {"ts": TS, "id.orig_p": 50000, "orig_bytes": 100, "local_orig": True}
    second = base | {"uid": "J2", "ts": "2024-04-19T10:00:01.250000Z", "tunnel_parents": ["x"]}
    third = base | {"uid": "J3", "_node_name": "w1", "community_id": "1:abc"}
    out = typed(json_lines([first, second, third]))
    assert out["ts"].to_list()[:2] == [
        dt.datetime(2024, 4, 19, 10, tzinfo=dt.UTC),
        dt.datetime(2024, 4, 19, 10, 0, 1, 250000, tzinfo=dt.UTC),
    ]
    assert out["local_orig"][0] is True and out["orig_bytes"][0] == 100
    assert out["tunnel_parents"].to_list() == [None, ["x"], None]
    assert out["node_name"].to_list() == [None, None, "w1"]
    assert json.loads(out["extra"][2]) == {"community_id": "1:abc"}
    assert out[REASON].null_count() == 3


def test_json_bad_lines_are_parse_errors():
    good = {k: v for k, v in conn_record(TS, "J1").items() if v != "-"}
    read = read_zeek(
        json_lines([good, '{"ts": 1.0, "uid":', "[1, 2]", good | {"uid": "J2"}]).encode()
    )
    assert read.records == 4
    assert read.problems["line_number"].to_list() == [2, 3]
    assert read.segments[0].frame["uid"].to_list() == ["J1", "J2"]


def _lines_of(reads) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Every data line as read (its header's markers with it), the problems, the records."""
    reads = list(reads)
    rows = [
        s.frame.with_columns(pl.lit(s.unset).alias("_unset"), pl.lit(s.separator).alias("_sep"))
        for r in reads
        for s in r.segments
    ]
    lines = pl.concat(rows, how="diagonal_relaxed").sort("__line") if rows else pl.DataFrame()
    found = pl.concat([r.problems for r in reads])
    return lines, found, sum(r.records for r in reads)


def _piece_cases() -> list[bytes]:
    rows = [conn_record(TS + i, f"C{i}") for i in range(300)]
    sound = tsv_block(CONN_FIELDS, rows)
    good = "\t".join(conn_record(TS, "B1").values())
    odd = [good, good[:40], "", good + "\textra", good.replace("B1", "B\\x41")] * 20
    fewer = {k: v for k, v in CONN_FIELDS.items() if k != "history"}
    blocks = (
        sound
        + tsv_block(fewer, [conn_record(TS, "D1")] * 50, set_separator=";", node_name="w1")
        + sound
    )
    blob = gz(sound * 3)
    return [
        sound.encode(),
        sound.replace("\n", "\r\n").encode(),
        sound.rstrip("\n").encode(),  # #close without a line end
        sound[: len(sound) - 700].encode(),  # cut mid-line: a truncated last line
        tsv_block(CONN_FIELDS, odd).encode(),
        blocks.encode(),
        blob,
        blob[: len(blob) // 2],  # a gzip stream that breaks off
        ("#just a comment\n" * 40 + json_lines([conn_record(TS, "J1")] * 200)).encode(),
        json_lines([conn_record(TS, "J1"), "[1]", ""] * 100).encode(),
        b"",
    ]


@pytest.mark.parametrize("case", range(len(_piece_cases())))
@pytest.mark.parametrize("piece", [1, 700, 4096])
def test_a_file_read_in_pieces_gives_the_records_of_reading_it_whole(case, piece):
    data = _piece_cases()[case]
    whole_lines, whole_found, whole_records = _lines_of([read_zeek(data)])
    reads = list(iter_zeek(data, piece_bytes=piece))
    lines, found, records = _lines_of(reads)
    assert len(reads) > 1 or len(data) < 2 * piece  # really in pieces
    assert records == whole_records
    assert found.equals(whole_found)
    assert lines.equals(whole_lines)
    # streamed from an open file, read `piece` bytes at a time: the same again
    streamed = _lines_of(iter_zeek(io.BytesIO(data), piece_bytes=piece))
    assert streamed[2] == whole_records
    assert streamed[1].equals(whole_found) and streamed[0].equals(whole_lines)
    # and typed alike, whichever piece a value that is not a number fell in
    hinted = list(iter_zeek(data, numeric=ZEEK_FIELDS["conn"], piece_bytes=piece))
    whole_typed = [convert(s, ZEEK_FIELDS["conn"], REQUIRED_FIELDS["conn"]) for s in
                   read_zeek(data, numeric=ZEEK_FIELDS["conn"]).segments]  # fmt: skip
    typed_pieces = [
        convert(s, ZEEK_FIELDS["conn"], REQUIRED_FIELDS["conn"]) for r in hinted for s in r.segments
    ]
    if whole_typed:
        assert pl.concat(typed_pieces, how="vertical_relaxed").equals(
            pl.concat(whole_typed, how="vertical_relaxed")
        )
