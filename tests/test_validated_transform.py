"""validate_partition: typed output, one test per quarantine reason, the time rule, counts."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from zeek_factory import (
    CONN_FIELDS,
    DNS_FIELDS,
    HTTP_FIELDS,
    conn_record,
    epoch,
    gz,
    json_lines,
    raw_file,
    tsv_block,
)

from assets.validated.schemas import DEDUP_KEYS, QUARANTINE_SCHEMA, TABLES, VALIDATED_SCHEMAS
from assets.validated.transform import validate_partition

D = dt.date(2024, 4, 19)
NEXT = D + dt.timedelta(days=1)


def conn_file(rows, folder=D, name="conn.00:00:00-01:00:00.log", **kw):
    """A rotated file (an un-rotated `conn.log` may run past its folder's day)."""
    return raw_file(tsv_block(CONN_FIELDS, rows, **kw), folder, name)


def reconciles(counts: dict[str, int]) -> bool:
    return counts["raw_records"] == (
        counts["valid"]
        - counts["from_later_folders"]
        - counts["from_earlier_folders"]
        + counts["quarantined"]
        + counts["to_earlier_partitions"]
        + counts["to_later_partitions"]
    )


def only_quarantine(rows, table="conn"):
    result = validate_partition([conn_file(rows)], table, D)
    assert reconciles(result.counts)
    return result


@pytest.mark.parametrize("table", TABLES)
def test_output_schemas_are_exact_even_when_empty(table):
    result = validate_partition([], table, D)
    assert result.valid.schema == pl.Schema(VALIDATED_SCHEMAS[table])
    assert result.quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert result.counts["raw_records"] == 0 and reconciles(result.counts)
    assert set(DEDUP_KEYS[table]) <= set(VALIDATED_SCHEMAS[table])


def test_sound_records_are_typed_sorted_and_carry_sensor_and_node():
    rows = [conn_record(epoch(D, 12), "C2"), conn_record(epoch(D, 11), "C1")]
    result = validate_partition([conn_file(rows, node_name="worker-1")], "conn", D)
    assert result.valid["uid"].to_list() == ["C1", "C2"]
    assert result.valid.schema == pl.Schema(VALIDATED_SCHEMAS["conn"])
    assert result.valid["sensor"].unique().to_list() == ["s1"]
    assert result.valid["node_name"].unique().to_list() == ["worker-1"]
    assert result.counts | {"raw_records": 2, "valid": 2, "quarantined": 0} == result.counts


@pytest.mark.parametrize(
    ("record", "reason", "needle"),
    [
        (conn_record(epoch(D, 9), "C9", orig_bytes="lots"), "type_error", "orig_bytes 'lots'"),
        (conn_record(epoch(D, 9), "C9", local_orig="yes"), "type_error", "local_orig"),
        (conn_record(epoch(D, 9), "C9", **{"id.resp_p": "70000"}), "type_error", "id.resp_p"),
        (conn_record(epoch(D, 9), "C9") | {"ts": "yesterday"}, "type_error", "ts 'yesterday'"),
        (conn_record(epoch(D, 9), "C9", **{"id.orig_h": "10.0.0.300"}), "bad_ip", "10.0.0.300"),
        (conn_record(epoch(D, 9), "C9", **{"id.resp_h": "2001:db8::g"}), "bad_ip", "id.resp_h"),
        (conn_record(epoch(D, 9), "C9", resp_pkts="-3"), "negative_count", "resp_pkts '-3'"),
        (conn_record(epoch(D, 9), "-"), "missing_field", "uid is missing"),
        (conn_record(epoch(D, 9), "C9") | {"ts": "-"}, "missing_field", "ts is missing"),
    ],
)
def test_each_bad_value_is_quarantined_with_its_reason(record, reason, needle):
    good = conn_record(epoch(D, 8), "C1")
    result = only_quarantine([good, record])
    assert result.valid["uid"].to_list() == ["C1"]
    q = result.quarantine.row(0, named=True)
    assert q["reason"] == reason
    assert needle in q["detail"]
    assert q["line_number"] == 10
    assert q["raw"] == "\t".join(str(v) for v in record.values())
    assert (
        q["source_file"] == "zeek/s1/2024-04-19/conn.00:00:00-01:00:00.log" and q["sensor"] == "s1"
    )
    assert result.counts[f"quarantined_{reason}"] == 1


def test_unparseable_line_is_a_parse_error():
    result = only_quarantine([conn_record(epoch(D, 8), "C1"), "garbage line"])
    assert result.quarantine.select("reason", "line_number", "raw").row(0) == (
        "parse_error",
        10,
        "garbage line",
    )


def test_duplicate_uid_keeps_the_first_record():
    first = conn_record(epoch(D, 8), "C1", orig_bytes=1)
    again = conn_record(epoch(D, 9), "C1", orig_bytes=2)
    result = only_quarantine([first, again])
    assert result.valid["orig_bytes"].to_list() == [1]
    assert result.quarantine.select("reason", "line_number").row(0) == ("duplicate", 10)


def test_duplicates_are_found_across_folders_and_sensors_are_separate():
    rec = conn_record(epoch(D, 23, 59), "C1")
    files = [
        conn_file([rec]),
        raw_file(tsv_block(CONN_FIELDS, [rec]), D, "conn.log", sensor="s2"),
        conn_file([rec], folder=NEXT),
    ]
    result = validate_partition(files, "conn", D)
    assert result.valid["sensor"].to_list() == ["s1", "s2"]
    assert result.quarantine["reason"].to_list() == ["duplicate"]
    assert result.quarantine["source_file"][0].startswith("zeek/s1/2024-04-20/")
    assert result.counts["from_later_folders"] == 1 and reconciles(result.counts)


def test_http_dedup_key_is_uid_and_depth():
    rows = [
        {f: "-" for f in HTTP_FIELDS} | conn_record(epoch(D, 8), "H1") | {"trans_depth": d}
        for d in (1, 2, 2)
    ]
    rows = [{f: r[f] for f in HTTP_FIELDS} for r in rows]
    files = [raw_file(tsv_block(HTTP_FIELDS, rows, path="http"), D, "http.log")]
    result = validate_partition(files, "http", D)
    assert result.valid["trans_depth"].to_list() == [1, 2]
    assert result.quarantine["reason"].to_list() == ["duplicate"]


def test_truncated_last_line():
    text = tsv_block(CONN_FIELDS, [conn_record(epoch(D, 8), "C1")] * 1, close=False)
    text += "\t".join(conn_record(epoch(D, 9), "C2").values())[:30]
    result = validate_partition([raw_file(text, D)], "conn", D)
    assert result.quarantine.select("reason", "line_number").row(0) == ("truncated_line", 10)
    assert result.counts["raw_records"] == 2 and reconciles(result.counts)


def test_corrupt_stream_keeps_the_day():
    rows = [conn_record(epoch(D, 0, i // 60, i % 60), f"C{i}") for i in range(3000)]
    blob = gz(tsv_block(CONN_FIELDS, rows))
    files = [raw_file(blob[: len(blob) * 2 // 3], D, "conn.00:00:00-01:00:00.log.gz")]
    result = validate_partition(files, "conn", D)
    assert 1000 < result.valid.height < 3000
    assert result.quarantine["reason"].to_list() == ["corrupt_stream"]
    assert result.counts["raw_records"] == result.valid.height + 1 and reconciles(result.counts)


def test_late_and_future_records_are_quarantined_by_their_folder():
    rows = [
        conn_record(epoch(D, 12), "C1"),
        conn_record(epoch(D - dt.timedelta(days=2), 12), "OLD"),  # older than F-L
        conn_record(epoch(NEXT, 0, 0, 1), "NEW"),  # after its folder's day
    ]
    result = only_quarantine(rows)
    assert result.valid["uid"].to_list() == ["C1"]
    got = dict(zip(result.quarantine["reason"], result.quarantine["detail"], strict=True))
    assert set(got) == {"late", "future"}
    assert "2024-04-17T12:00:00.000000Z" in got["late"] and "2024-04-19" in got["late"]


def test_time_rule_across_midnight_and_the_lateness_window():
    prev = D - dt.timedelta(days=1)
    in_d = [conn_record(epoch(prev, 23, 59, 59), "Y1"), conn_record(epoch(D, 0), "D1")]
    in_next = [
        conn_record(epoch(D, 23, 59, 59.999999), "D2"),  # logged after midnight, owned by D
        conn_record(epoch(NEXT, 0, 0, 0.5), "N1"),  # owned by D+1
    ]
    in_next2 = [conn_record(epoch(D, 23), "TOO_LATE_FOR_D")]  # folder D+2 is beyond L=1
    files = [
        conn_file(in_d),
        conn_file(in_next, folder=NEXT),
        conn_file(in_next2, folder=NEXT + dt.timedelta(days=1)),
    ]
    result = validate_partition(files, "conn", D, lateness_days=1)
    assert result.valid["uid"].to_list() == ["D1", "D2"]
    c = result.counts
    assert (c["raw_records"], c["to_earlier_partitions"], c["from_later_folders"]) == (2, 1, 1)
    assert reconciles(c)
    # the previous day's partition picks Y1 from folder D; D+1's partition keeps N1
    assert validate_partition(files, "conn", prev).valid["uid"].to_list() == ["Y1"]
    assert validate_partition(files, "conn", NEXT).valid["uid"].to_list() == ["N1"]
    # with L=2 the record in folder D+2 is in window and belongs to D
    wide = validate_partition(files, "conn", D, lateness_days=2)
    assert wide.valid["uid"].to_list() == ["D1", "TOO_LATE_FOR_D", "D2"]


def test_every_raw_record_lands_exactly_once_across_partitions():
    days = [D + dt.timedelta(days=k) for k in range(4)]
    files = []
    for k, folder in enumerate(days):
        rows = [
            conn_record(epoch(folder, 1), f"A{k}"),
            conn_record(epoch(folder - dt.timedelta(days=1), 23), f"B{k}"),  # late-ish
            conn_record(epoch(folder - dt.timedelta(days=3), 1), f"L{k}"),  # late
            conn_record(epoch(folder + dt.timedelta(days=1), 1), f"F{k}"),  # future
        ]
        files.append(conn_file([*rows, "broken"], folder=folder))
    seen = []
    for day in [days[0] - dt.timedelta(days=1), *days]:
        r = validate_partition([f for f in files if day <= f.folder_day], "conn", day)
        assert reconciles(r.counts)
        seen += r.valid["uid"].to_list() + r.quarantine["raw"].to_list()
    assert len(seen) == 5 * len(days)


def test_unparseable_records_of_later_folders_stay_with_their_folder():
    files = [conn_file([conn_record(epoch(D, 1), "C1")]), conn_file(["junk"], folder=NEXT)]
    result = validate_partition(files, "conn", D)
    assert result.quarantine.height == 0
    assert validate_partition(files, "conn", NEXT).quarantine["reason"].to_list() == ["parse_error"]


def test_dns_lists_and_json_input():
    rec = {
        "ts": epoch(D, 3),
        "uid": "D1",
        "id.orig_h": "10.0.0.1",
        "id.orig_p": 5353,
        "id.resp_h": "2606:4700::6813:ad44",
        "id.resp_p": 53,
        "proto": "udp",
        "trans_id": 7,
        "query": "example.com",
        "AA": False,
        "answers": ["93.184.216.34", "example.net"],
        "TTLs": [60.0, 30.5],
    }
    files = [raw_file(json_lines([rec, rec | {"TTLs": ["soon"]}]), D, "dns.json")]
    result = validate_partition(files, "dns", D)
    row = result.valid.row(0, named=True)
    assert row["answers"] == ["93.184.216.34", "example.net"] and row["ttls"] == [60.0, 30.5]
    assert row["aa"] is False
    assert result.quarantine["reason"].to_list() == ["type_error"]
    assert "TTLs" in result.quarantine["detail"][0]


def test_dns_identical_lines_are_duplicates_but_two_answers_are_not():
    base = {f: "-" for f in DNS_FIELDS} | {
        "ts": f"{epoch(D, 3):.6f}",
        "uid": "D1",
        "id.orig_h": "10.0.0.1",
        "id.orig_p": "5353",
        "id.resp_h": "10.0.0.53",
        "id.resp_p": "53",
        "proto": "udp",
        "trans_id": "7",
        "query": "example.com",
        "rcode": "2",
        "rejected": "F",
    }
    rows = [base, base, base | {"rejected": "T"}]
    files = [raw_file(tsv_block(DNS_FIELDS, rows, path="dns"), D, "dns.log")]
    result = validate_partition(files, "dns", D)
    assert result.valid["rejected"].to_list() == [False, True]
    assert result.quarantine["reason"].to_list() == ["duplicate"]


def test_extra_fields_are_kept_as_json_text():
    fields = CONN_FIELDS | {"community_id": "string", "vlan": "int"}
    rec = conn_record(epoch(D, 1), "C1", community_id="1:xyz", vlan="-")
    result = validate_partition([raw_file(tsv_block(fields, [rec]), D)], "conn", D)
    assert result.valid["extra"].to_list() == ['{"community_id":"1:xyz"}']


def test_files_outside_the_folder_window_are_ignored():
    files = [conn_file([conn_record(epoch(D, 1), "C1")], folder=D - dt.timedelta(days=1))]
    result = validate_partition(files, "conn", D)
    assert result.valid.height == 0 and result.counts["raw_records"] == 0


def test_duplicates_quote_their_own_raw_line_from_any_block_or_format():
    first = conn_record(epoch(D, 8), "C1")
    again = conn_record(epoch(D, 9), "C1", orig_bytes=7)
    # the duplicate sits in a gzip file's second header block, behind a sound record
    text = tsv_block(CONN_FIELDS, [first]) + tsv_block(
        CONN_FIELDS, [conn_record(epoch(D, 10), "C2"), again]
    )
    json_again = conn_record(epoch(D, 11), "C2")
    files = [
        raw_file(gz(text), D, "conn.00:00:00-01:00:00.log.gz"),
        raw_file(json_lines([json_again]), D, "conn.01:00:00-02:00:00.log"),
    ]
    result = validate_partition(files, "conn", D)
    assert result.valid["uid"].to_list() == ["C1", "C2"]
    q = result.quarantine
    assert q["reason"].to_list() == ["duplicate", "duplicate"]
    assert q["raw"][0] == "\t".join(str(v) for v in again.values())
    assert q["line_number"][0] == text.count("\n", 0, text.index(q["raw"][0])) + 1
    assert q["detail"].to_list() == [
        "uid C1 already seen in this partition",
        "uid C2 already seen in this partition",
    ]
    assert q["raw"][1].startswith("{") and '"uid": "C2"' in q["raw"][1].replace('":"', '": "')
    assert reconciles(result.counts)


def test_a_file_that_cannot_be_loaded_fails_the_partition_and_stops_the_prefetch():
    import dataclasses
    import threading

    good = [
        conn_file([conn_record(epoch(D, i), f"C{i}")], name=f"conn.{i:02d}.log") for i in range(4)
    ]
    loads = []

    def load(f):
        def run():
            loads.append(f.source_file)
            if f.source_file == good[1].source_file:
                raise OSError("storage unavailable")
            return f.load()

        return run

    files = [dataclasses.replace(f, load=load(f)) for f in good]
    with pytest.raises(OSError, match="storage unavailable"):
        validate_partition(files, "conn", D)
    # the error surfaced for the file it belongs to; at most one file was read ahead of it
    assert loads[:2] == [good[0].source_file, good[1].source_file] and len(loads) <= 3
    prefetchers = [t for t in threading.enumerate() if t.name.startswith("hermit-inflate")]
    for t in prefetchers:
        t.join(timeout=5)  # told to stop, not waited for: it ends on its own
    assert not [t for t in prefetchers if t.is_alive()]


def test_small_files_converted_together_give_the_file_by_file_result(monkeypatch):
    from polars.testing import assert_frame_equal

    from assets.validated import transform

    def hour_file(h, recs, folder=D, sensor="s1"):
        return raw_file(tsv_block(CONN_FIELDS, recs), folder, f"conn.{h:02d}.log", sensor=sensor)

    files = [
        hour_file(0, [conn_record(epoch(D, 0, m), f"C0{m}") for m in range(3)]),
        hour_file(1, [conn_record(epoch(D, 1), "C10", **{"id.orig_h": "10.0.0.999"})]),
        hour_file(2, [conn_record(epoch(D, 2), "C20"), conn_record(epoch(D, 2, 5), "C00")]),
        hour_file(3, [conn_record(epoch(D, 3), "C30", orig_bytes="-4")], sensor="s2"),
        hour_file(4, [conn_record(epoch(D, 4), "C40"), conn_record(epoch(D, 23, 59), "C41")]),
        hour_file(0, [conn_record(epoch(D, 23, 59, 30), "C50")], folder=NEXT),
    ]
    batched = validate_partition(files, "conn", D)
    monkeypatch.setattr(transform, "SEGMENT_BATCH_ROWS", 0)  # every segment on its own
    alone = validate_partition(files, "conn", D)
    assert_frame_equal(batched.valid, alone.valid)
    assert_frame_equal(batched.quarantine, alone.quarantine)
    assert batched.counts == alone.counts and reconciles(batched.counts)
    # each problem is still quoted from, and numbered in, its own file
    got = batched.quarantine.select("reason", "source_file", "line_number").rows()
    assert got == [
        ("bad_ip", "zeek/s1/2024-04-19/conn.01.log", 9),
        ("duplicate", "zeek/s1/2024-04-19/conn.02.log", 10),
        ("negative_count", "zeek/s2/2024-04-19/conn.03.log", 9),
    ]
    assert batched.valid.height == 7
