"""JSON flow exports -> flow rows (READ_COLUMNS): nfdump `-o json` (an array) and its JSON
lines, goflow2 (v2 snake_case keys) and goflow / goflow2 v1 (CamelCase keys) JSON lines.

goflow reports `sampling_rate` beside unscaled counts; nfdump's `sampled` says the collector
applied a sampling rate it knew. nfdump prints local times: exports are read as UTC (run
nfdump with TZ=UTC). goflow's zero flow times mean "not given": the receive time stands in.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json

import polars as pl

from assets.flows.schema import READ_COLUMNS, empty_read
from assets.flows.text import PROTOCOLS


class BadValue(ValueError):
    pass


def read_json_flows(text: str, kind: str) -> pl.DataFrame:
    """kind: nfdump_json (an array), nfdump_ndjson, goflow2_json, goflow_json."""
    records: list[tuple[int, str, object]] = []  # (line number, raw text, parsed or error)
    if kind == "nfdump_json":
        try:
            array = json.loads(text)
        except ValueError as exc:
            array = _salvage_array(text, exc)
        if not isinstance(array, list):
            array = [array]
        records = [(i, None, r) for i, r in enumerate(array, start=1)]
    else:
        lines = text.split("\n")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                records.append((number, line, json.loads(line)))
            except ValueError as exc:
                last = number == len(lines) and not text.endswith("\n")
                reason = "truncated_line" if last else "parse_error"
                records.append((number, line, _Problem(reason, f"not JSON: {exc}")))
    mapper = {"goflow2_json": _goflow2, "goflow_json": _goflow1}.get(kind, _nfdump)
    rows = []
    for number, raw, rec in records:
        raw_text = raw if raw is not None else json.dumps(rec, default=str)
        if isinstance(rec, _Problem):
            rows.append(
                {
                    "line_number": number,
                    "raw": raw_text,
                    "problem": rec.reason,
                    "problem_detail": rec.detail,
                }
            )
            continue
        if not isinstance(rec, dict):
            rows.append(
                {
                    "line_number": number,
                    "raw": raw_text,
                    "problem": "parse_error",
                    "problem_detail": "not a JSON object",
                }
            )
            continue
        try:
            row = mapper(rec)
        except BadValue as exc:
            rows.append(
                {
                    "line_number": number,
                    "raw": raw_text,
                    "problem": "type_error",
                    "problem_detail": str(exc),
                }
            )
            continue
        rows.append(row | {"line_number": number, "raw": raw_text})
    return pl.DataFrame(rows, schema=READ_COLUMNS, orient="row") if rows else empty_read()


class _Problem:
    def __init__(self, reason: str, detail: str):
        self.reason, self.detail = reason, detail


def _salvage_array(text: str, exc: ValueError) -> list:
    """The objects of a JSON array that breaks off, and one entry for the damage."""
    decoder, out, pos = json.JSONDecoder(), [], text.index("[") + 1 if "[" in text else 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except ValueError as inner:
            out.append(
                _Problem("corrupt_stream", f"JSON array breaks off at character {pos}: {inner}")
            )
            break
        out.append(obj)
    return out


def _int(rec: dict, *keys: str) -> int | None:
    for k in keys:
        v = rec.get(k)
        if v is None or v == "":
            continue
        if isinstance(v, bool):
            raise BadValue(f"{k} {v!r} is not a number")
        if isinstance(v, int):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, str) and v.strip().lstrip("-").isdigit():
            return int(v)
        raise BadValue(f"{k} {v!r} is not an integer")
    return None


def _text(rec: dict, *keys: str) -> str | None:
    for k in keys:
        v = rec.get(k)
        if v is not None and v != "":
            return str(v)
    return None


def _proto(rec: dict, *keys: str) -> int | None:
    for k in keys:
        v = rec.get(k)
        if isinstance(v, str) and not v.strip().isdigit():
            if v.strip().upper() in PROTOCOLS:
                return PROTOCOLS[v.strip().upper()]
            raise BadValue(f"{k} {v!r} is not a known protocol")
    return _int(rec, *keys)


def _iso_us(rec: dict, *keys: str) -> int | None:
    for k in keys:
        v = rec.get(k)
        if v is None or v == "":
            continue
        if isinstance(v, int | float) and not isinstance(v, bool):
            return int(v * 1000)  # nfdump's epoch milliseconds
        try:
            t = dt.datetime.fromisoformat(str(v))
        except ValueError:
            raise BadValue(f"{k} {v!r} is not a time") from None
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.UTC)
        return (t - _EPOCH) // dt.timedelta(microseconds=1)
    return None


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _flags(rec: dict, key: str) -> int | None:
    v = rec.get(key)
    if isinstance(v, str) and not v.isdigit():
        if len(v) > 8 or any(c != "." and not c.isalpha() for c in v):
            raise BadValue(f"{key} {v!r} is not TCP flags")
        padded = v.rjust(8, ".")
        return sum(1 << i for i in range(8) if padded[7 - i] != ".")
    return _int(rec, key)


def _nfdump(rec: dict) -> dict:
    # FLOW records, and NSEL / NEL firewall and NAT EVENT records, which carry a flow too
    start = _iso_us(rec, "first", "t_first")
    end = _iso_us(rec, "last", "t_last")
    if end == 0:  # an event with no last-seen time prints the epoch
        end = None
    sampled = _int(rec, "sampled")
    return {
        "start_us": start,
        "end_us": end if end is not None else start,
        "src_addr": _text(rec, "src4_addr", "src6_addr", "src_addr"),
        "dst_addr": _text(rec, "dst4_addr", "dst6_addr", "dst_addr"),
        "src_port": _int(rec, "src_port"),
        "dst_port": _int(rec, "dst_port"),
        "protocol": _proto(rec, "proto"),
        "packets": _int(rec, "in_packets", "packets"),
        "bytes": _int(rec, "in_bytes", "bytes"),
        "tcp_flags": _flags(rec, "tcp_flags"),
        "in_if": _int(rec, "input_snmp", "in_if"),
        "out_if": _int(rec, "output_snmp", "out_if"),
        "src_as": _int(rec, "src_as"),
        "dst_as": _int(rec, "dst_as"),
        "sampling_rate": None,
        "counts_scaled": None if sampled is None else bool(sampled),
        "exporter_address": _text(rec, "ip4_router", "ip6_router", "exporter"),
    }


def _goflow2(rec: dict) -> dict:
    received = _int(rec, "time_received_ns")
    start = _int(rec, "time_flow_start_ns") or received
    end = _int(rec, "time_flow_end_ns") or start
    return {
        "start_us": None if start is None else start // 1000,
        "end_us": None if end is None else end // 1000,
        "src_addr": _text(rec, "src_addr"),
        "dst_addr": _text(rec, "dst_addr"),
        "src_port": _int(rec, "src_port"),
        "dst_port": _int(rec, "dst_port"),
        "protocol": _proto(rec, "proto"),
        "packets": _int(rec, "packets"),
        "bytes": _int(rec, "bytes"),
        "tcp_flags": _int(rec, "tcp_flags"),
        "in_if": _int(rec, "in_if"),
        "out_if": _int(rec, "out_if"),
        "src_as": _int(rec, "src_as"),
        "dst_as": _int(rec, "dst_as"),
        "sampling_rate": _int(rec, "sampling_rate") or None,
        "counts_scaled": False,
        "exporter_address": _address(rec.get("sampler_address")),
    }


def _goflow1(rec: dict) -> dict:
    def us(base: str, received: int | None) -> int | None:
        for suffix, scale in (("Ns", 1 / 1000), ("Ms", 1000), ("", 1_000_000)):
            v = _int(rec, base + suffix)
            if v:
                return int(v * scale)
        return received

    received = us("TimeReceived", None)
    start = us("TimeFlowStart", received)
    end = us("TimeFlowEnd", start)
    return {
        "start_us": start,
        "end_us": end,
        "src_addr": _address(rec.get("SrcAddr")),
        "dst_addr": _address(rec.get("DstAddr")),
        "src_port": _int(rec, "SrcPort"),
        "dst_port": _int(rec, "DstPort"),
        "protocol": _proto(rec, "Proto"),
        "packets": _int(rec, "Packets"),
        "bytes": _int(rec, "Bytes"),
        "tcp_flags": _int(rec, "TCPFlags"),
        "in_if": _int(rec, "InIf"),
        "out_if": _int(rec, "OutIf"),
        "src_as": _int(rec, "SrcAS"),
        "dst_as": _int(rec, "DstAS"),
        "sampling_rate": _int(rec, "SamplingRate") or None,
        "counts_scaled": False,
        "exporter_address": _address(rec.get("SamplerAddress")),
    }


def _address(value) -> str | None:
    """An address as text; goflow's protobuf JSON gives some as base64 bytes."""
    if value is None or value == "":
        return None
    text = str(value)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return text  # validation names it a bad_ip
    return str(ipaddress.ip_address(raw)) if len(raw) in (4, 16) else text
