"""Flow readers and validation on generated inputs: every format, every quarantine reason,
the time rule and the reconciliation of counts."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import polars as pl
import pytest
from flows_support import raw_file

from assets.flows.detect import detect
from assets.flows.readers import read_flow_file
from assets.flows.schema import FLOWS_SCHEMA, QUARANTINE_SCHEMA
from assets.flows.transform import validate_flows

DAY = dt.date(2024, 3, 5)
T0 = dt.datetime(2024, 3, 5, 10, 0, tzinfo=dt.UTC)

OLD_CSV = (
    "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,ra\n"
    "2024-03-05 10:00:00.250,2024-03-05 10:00:01.750,1.500,10.0.0.1,192.0.2.7,51000,443,TCP,"
    "...AP.S.,0,0,12,3400,0,0,3,4,64500,15169,198.51.100.1\n"
    "2024-03-05 10:00:02.000,2024-03-05 10:00:02.000,0.000,10.0.0.2,192.0.2.8,53000,53,UDP,"
    "........,0,0,1,80,0,0,3,4,0,0,198.51.100.1\n"
    "Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n2,3480,13,0,0,0\n"
)
NEW_CSV = (
    "firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows\n"
    "2024-03-05 10:00:00.250,1.500,TCP,10.0.0.1,51000,192.0.2.7,443,12,3400,1\n"
    "2024-03-05 10:00:02.000,0.000,17,2001:db8::1,53000,2001:db8::53,53,1,80,1\n"
)


def _nfdump_json_record(**over) -> dict:
    rec = {
        "type": "FLOW",
        "sampled": 1,
        "first": "2024-03-05T10:00:00.250",
        "last": "2024-03-05T10:00:01.750",
        "in_packets": 12,
        "in_bytes": 3400,
        "proto": 6,
        "tcp_flags": "...AP.S.",
        "src_port": 51000,
        "dst_port": 443,
        "src4_addr": "10.0.0.1",
        "dst4_addr": "192.0.2.7",
        "input_snmp": 3,
        "output_snmp": 4,
        "src_as": 64500,
        "dst_as": 15169,
        "ip4_router": "198.51.100.1",
    }
    return rec | over


def _goflow2(**over) -> dict:
    ns = int(T0.timestamp() * 1e9)
    rec = {
        "type": "IPFIX",
        "time_received_ns": ns + 5_000_000_000,
        "sampling_rate": 100,
        "sampler_address": "198.51.100.1",
        "time_flow_start_ns": ns + 250_000_000,
        "time_flow_end_ns": ns + 1_750_000_000,
        "bytes": 3400,
        "packets": 12,
        "src_addr": "10.0.0.1",
        "dst_addr": "192.0.2.7",
        "etype": "IPv4",
        "proto": "TCP",
        "src_port": 51000,
        "dst_port": 443,
        "in_if": 3,
        "out_if": 4,
        "src_as": 64500,
        "dst_as": 15169,
        "tcp_flags": 26,
    }
    return rec | over


def _goflow1(**over) -> dict:
    rec = {
        "Type": 4,
        "TimeReceived": int(T0.timestamp()) + 5,
        "SamplingRate": 400,
        "SamplerAddress": "xjNkAQ==",  # 198.51.100.1, as goflow's protobuf JSON gives it
        "TimeFlowStart": int(T0.timestamp()),
        "TimeFlowEnd": int(T0.timestamp()) + 2,
        "Bytes": 3400,
        "Packets": 12,
        "SrcAddr": "10.0.0.1",
        "DstAddr": "192.0.2.7",
        "Etype": 2048,
        "Proto": 6,
        "SrcPort": 51000,
        "DstPort": 443,
        "InIf": 3,
        "OutIf": 4,
        "SrcAS": 0,
        "DstAS": 0,
        "TCPFlags": 26,
    }
    return rec | over


def _lines(*records: dict) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _validate(*files, lateness: int = 1, day: dt.date = DAY):
    result = validate_flows(list(files), day, lateness)
    assert dict(result.valid.schema) == FLOWS_SCHEMA
    assert dict(result.quarantine.schema) == QUARANTINE_SCHEMA
    return result


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (OLD_CSV.encode(), "nfdump_csv"),
        (NEW_CSV.encode(), "nfdump_csv"),
        (json.dumps([_nfdump_json_record()]).encode(), "nfdump_json"),
        (_lines(_nfdump_json_record()), "nfdump_ndjson"),
        (_lines(_goflow2()), "goflow2_json"),
        (_lines(_goflow1()), "goflow_json"),
        (b"StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport\n", "argus_csv"),
        (b"\x0c\xa5\x02\x00" + bytes(60), "nfcapd"),
        (b"\x00\x0a\x00\x10" + bytes(12), "ipfix"),
        (b"\x00\x05\x00\x01" + bytes(68), "netflow_v5"),
        (b"\x00\x00\x00\x05\x00\x00\x00\x01" + bytes(20), "sflow"),
        (b"hello world\n", "unknown"),
    ],
)
def test_format_is_detected_from_content_not_name(data, kind):
    assert detect(data, "flows.bin") == kind


@pytest.mark.parametrize("csv", [OLD_CSV, NEW_CSV], ids=["nfdump-1.7.1", "nfdump-1.7.5"])
def test_nfdump_csv_both_headers(csv):
    result = _validate(raw_file(csv.encode(), "export.csv", DAY))
    rows = result.valid
    assert rows.height == 2 and result.quarantine.height == 0  # the summary block is not flows
    first = rows.row(0, named=True)
    assert first["start"] == T0 + dt.timedelta(milliseconds=250)
    assert first["end"] == T0 + dt.timedelta(milliseconds=1750)
    assert first["duration"] == pytest.approx(1.5)
    assert (first["protocol"], first["packets"], first["bytes"]) == (6, 12, 3400)
    assert (first["src_port"], first["dst_port"]) == (51000, 443)
    assert first["format"] == "nfdump_csv"
    if csv is OLD_CSV:
        assert first["tcp_flags"] == 0b11010  # ...AP.S. = ACK PSH SYN
        assert (first["src_as"], first["dst_as"], first["in_if"]) == (64500, 15169, 3)
        assert first["exporter_address"] == "198.51.100.1"
    else:
        assert rows["src_addr"][1] == "2001:db8::1"


def test_json_flavours_agree_on_the_same_flow():
    files = [
        raw_file(json.dumps([_nfdump_json_record()]).encode(), "a.json", DAY, "e1"),
        raw_file(_lines(_nfdump_json_record()), "b.json", DAY, "e2"),
        raw_file(_lines(_goflow2()), "c.json", DAY, "e3"),
        raw_file(gzip.compress(_lines(_goflow1())), "d.json.gz", DAY, "e4"),
    ]
    rows = _validate(*files).valid.sort("exporter")
    assert rows.height == 4
    assert set(rows["src_addr"]) == {"10.0.0.1"} and set(rows["dst_port"]) == {443}
    assert set(rows["bytes"]) == {3400} and set(rows["protocol"]) == {6}
    by = {r["exporter"]: r for r in rows.iter_rows(named=True)}
    assert by["e1"]["counts_scaled"] is True and by["e1"]["sampling_rate"] is None
    assert by["e3"]["counts_scaled"] is False and by["e3"]["sampling_rate"] == 100
    assert by["e3"]["start"] == T0 + dt.timedelta(milliseconds=250)
    assert by["e4"]["sampling_rate"] == 400 and by["e4"]["exporter_address"] == "198.51.100.1"
    assert by["e4"]["format"] == "goflow_json" and by["e3"]["format"] == "goflow2_json"


def test_each_quarantine_reason_with_its_detail():
    later = "2024-03-05T10:00:00.000"
    bad = [
        _nfdump_json_record(src4_addr="10.0.0.300"),  # bad_ip
        _nfdump_json_record(in_bytes=-5),  # negative_count
        _nfdump_json_record(first=None),  # missing_field
        _nfdump_json_record(first="2024-03-05T11:00:00", last="2024-03-05T10:00:00"),
        _nfdump_json_record(last="2024-03-20T10:00:00.000"),  # impossible_duration
        _nfdump_json_record(src_port="http"),  # type_error
        _nfdump_json_record(dst_port=70000),  # type_error (out of range)
        _nfdump_json_record(first="2024-02-01T10:00:00", last="2024-02-01T10:00:00"),  # late
        _nfdump_json_record(first="2024-03-07T10:00:00", last="2024-03-07T10:00:00"),  # future
        _nfdump_json_record(first=later, last=later),
        _nfdump_json_record(first=later, last=later),  # duplicate of the one before
    ]
    text = _lines(*bad) + b'{"type": "FLOW", "first": \n' + b'{"cut'
    result = _validate(raw_file(text, "flows.json", DAY), lateness=1)
    q = result.quarantine
    reasons = q.sort("line_number")["reason"].to_list()
    assert reasons == [
        "bad_ip",
        "negative_count",
        "missing_field",
        "end_before_start",
        "impossible_duration",
        "type_error",
        "type_error",
        "late",
        "future",
        "duplicate",
        "parse_error",
        "truncated_line",
    ]
    assert q["detail"].null_count() == 0 and q["raw"].null_count() == 0
    assert "src_addr 10.0.0.300" in q.filter(pl.col("reason") == "bad_ip")["detail"][0]
    assert result.valid.height == 1
    c = result.counts
    assert c["raw_records"] == c["valid"] + c["quarantined"] == 13


def test_time_rule_moves_records_to_their_own_day_and_counts_reconcile():
    """A flow that started before midnight but was written to the next day's folder belongs to
    the day it started; every raw record is counted once over the partitions."""
    d1, d2 = DAY, DAY + dt.timedelta(days=1)
    late_evening = _goflow2(
        time_flow_start_ns=int(dt.datetime(2024, 3, 5, 23, 59, tzinfo=dt.UTC).timestamp() * 1e9),
        time_flow_end_ns=int(dt.datetime(2024, 3, 6, 0, 1, tzinfo=dt.UTC).timestamp() * 1e9),
    )
    next_day = _goflow2(
        time_flow_start_ns=int(dt.datetime(2024, 3, 6, 8, 0, tzinfo=dt.UTC).timestamp() * 1e9),
        time_flow_end_ns=int(dt.datetime(2024, 3, 6, 8, 1, tzinfo=dt.UTC).timestamp() * 1e9),
    )
    files = [
        raw_file(_lines(_goflow2()), "a.json", d1),
        raw_file(_lines(late_evening, next_day, next_day | {"src_addr": "x"}), "b.json", d2),
    ]
    r1, r2 = _validate(*files, day=d1), _validate(*files, day=d2)
    assert r1.valid.height == 2 and r1.counts["from_later_folders"] == 1
    assert r2.valid.height == 1 and r2.counts["to_earlier_partitions"] == 1
    assert r2.quarantine["reason"].to_list() == ["bad_ip"]
    for r in (r1, r2):
        c = r.counts
        assert c["raw_records"] == (
            c["valid"] - c["from_later_folders"] + c["quarantined"] + c["to_earlier_partitions"]
        )


def test_damaged_gzip_keeps_what_precedes_the_damage():
    lines = [NEW_CSV.splitlines()[0]] + [
        f"2024-03-05 10:{i % 60:02d}:00.{i % 1000:03d},0.5,TCP,10.0.{i % 250}.{i % 200},{1024 + i},"
        f"192.0.2.{i % 250},443,{i % 97 + 1},{i * 37 % 90000 + 40},1"
        for i in range(3000)
    ]
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    result = _validate(raw_file(data[: len(data) // 2], "export.csv.gz", DAY))
    assert result.valid.height > 0
    reasons = set(result.quarantine["reason"])
    assert "corrupt_stream" in reasons
    assert result.counts["raw_records"] == result.valid.height + result.quarantine.height


def test_unsupported_and_unknown_files_are_one_clear_entry_each():
    files = [
        raw_file(
            b"StartTime,Dur,Proto,SrcAddr\n2019/04/04 16:23:00,0.1,udp,1.2.3.4\n",
            "x.binetflow",
            DAY,
        ),
        raw_file(b"\x00\x00\x00\x05\x00\x00\x00\x01" + bytes(40), "sflow.bin", DAY),
        raw_file(b"just some text\n", "notes.txt", DAY),
    ]
    result = _validate(*files)
    assert result.valid.height == 0
    assert result.quarantine["reason"].to_list() == ["unsupported_format"] * 3
    details = " ".join(result.quarantine["detail"])
    assert "Argus" in details and "sFlow" in details and "not a flow format" in details


def test_reader_reports_its_format():
    frame, fmt = read_flow_file(gzip.compress(OLD_CSV.encode()), "x.csv.gz")
    assert fmt == "nfdump_csv" and frame.height == 2


def test_nsel_event_records_are_flows_not_dropped():
    """nfdump prints a Cisco ASA's NSEL records as type EVENT, with the epoch for a missing
    last-seen time: each is one flow (start = end), none silently dropped."""
    event = _nfdump_json_record(type="EVENT", last="1970-01-01T00:00:00.000", event="DELETE")
    result = _validate(raw_file(json.dumps([event, _nfdump_json_record()]).encode(), "x.json", DAY))
    assert result.valid.height == 2 and result.quarantine.height == 0
    row = result.valid.filter(pl.col("end") == pl.col("start"))
    assert row.height == 1 and row["start"][0] == T0 + dt.timedelta(milliseconds=250)
