"""Which flow format a raw file holds, judged from its content (the name only breaks ties).

Binary magics: gzip 1f8b (inflated first), nfcapd files 0ca5 (nfdump's file magic), pcap /
pcapng, IPFIX messages (version 10), NetFlow v5 / v9 export packets, sFlow v5 datagrams.
Text: a JSON array or JSON lines (nfdump `-o json`, goflow2 v2 snake_case, goflow v1
CamelCase), nfdump CSV (1.7.1-and-older `ts,te,td,...`, 1.7.5-and-newer `firstSeen,...`),
Argus CSV. Anything else is `unknown`.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass

from assets.zeek.inflate import GZIP_HEADER

PCAP_MAGICS = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")


@dataclass(frozen=True)
class Inflated:
    data: bytes  # the decompressed content (what could be recovered of it)
    damage: str | None = None  # why the compressed stream broke off, if it did


def inflate(stored: bytes) -> Inflated:
    """Gunzip (every member) when the bytes are gzip; what precedes damage is kept."""
    if stored[:3] != GZIP_HEADER:  # the same rule as the Zeek reader's
        return Inflated(stored)
    out, rest = [], stored
    try:
        while rest[:3] == GZIP_HEADER:
            d = zlib.decompressobj(wbits=31)
            out.append(d.decompress(rest))
            if not d.eof:
                return Inflated(b"".join(out), "gzip stream ends before its end marker")
            rest = d.unused_data
    except zlib.error as exc:
        return Inflated(b"".join(out), f"gzip stream is damaged: {exc}")
    return Inflated(b"".join(out))


def detect(data: bytes, name: str = "") -> str:
    """One of: nfcapd, pcap, ipfix, netflow_v5, netflow_v9, netflow_v1, sflow, nfdump_json,
    nfdump_ndjson, goflow2_json, goflow_json, nfdump_csv, argus_csv, empty, unknown."""
    head = data[:4]
    if not data.strip():
        return "empty"
    if head[:2] == b"\x0c\xa5":
        return "nfcapd"
    if head in PCAP_MAGICS or head == b"\x0a\x0d\x0d\x0a":
        return "pcap"
    if len(data) >= 16:
        version, length = struct.unpack("!HH", data[:4])
        if version == 10 and 16 <= length <= len(data):
            return "ipfix"
        if version in (1, 5, 9):
            # NetFlow's second field is a record count (the decoder judges it), not a length
            return f"netflow_v{version}"
        if struct.unpack("!I", data[:4])[0] in (2, 4, 5) and data[4:8] in (
            b"\x00\x00\x00\x01",
            b"\x00\x00\x00\x02",
        ):
            return "sflow"
    return _detect_text(data, name)


def _detect_text(data: bytes, name: str) -> str:
    text = data[:65536].decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("[") and text[1:].lstrip()[:1] in ("{", "]", ""):
        return "nfdump_json"
    if text.startswith("{"):
        first = text.split("\n", 1)[0]
        try:
            keys = set(json.loads(first))
        except (ValueError, TypeError):
            # a pretty-printed object, or a damaged first line: look at key names
            keys = {k for k in _KEY_HINTS if f'"{k}"' in text[:4096]}
        if keys & {"time_flow_start_ns", "src_addr", "sampler_address", "time_received_ns"}:
            return "goflow2_json"
        if keys & {"TimeFlowStart", "SrcAddr", "SamplerAddress", "TimeFlowStartNs"}:
            return "goflow_json"
        if keys & {"first", "src4_addr", "src6_addr", "in_bytes", "t_first"}:
            return "nfdump_ndjson"
        return "unknown"
    header = text.split("\n", 1)[0].strip().lower()
    fields = header.replace("\t", ",").split(",")
    if fields[:3] == ["ts", "te", "td"] or {"firstseen", "srcaddr"} <= set(fields):
        return "nfdump_csv"
    if fields[:2] == ["starttime", "dur"]:
        return "argus_csv"
    if name.endswith((".binetflow", ".argus")):
        return "argus_csv"
    return "unknown"


_KEY_HINTS = ("time_flow_start_ns", "src_addr", "TimeFlowStart", "SrcAddr", "first", "src4_addr")
