"""One raw flow file -> its rows (READ_COLUMNS + `format`), whatever format it holds.

Every raw record becomes exactly one row: a flow, or a problem (`problem` set) standing for a
line, a packet, a data set, or a whole file hermit cannot read. So a file's raw record count
is its row count, and validation only ever moves rows between `flows` and quarantine.
"""

from __future__ import annotations

import polars as pl

from assets.flows.capture import udp_payloads
from assets.flows.detect import detect, inflate
from assets.flows.ipfix_messages import ipfix_messages
from assets.flows.jsonflows import read_json_flows
from assets.flows.nfcapd import read_nfcapd
from assets.flows.packets import PacketDecoder
from assets.flows.schema import empty_read, problem_rows
from assets.flows.text import read_nfdump_csv

UNSUPPORTED = {
    "sflow": "sFlow datagrams are not flow records hermit reads (sample-based; use a collector "
    "such as goflow2 to turn them into flows)",
    "argus_csv": "Argus CSV is not read: its times carry no time zone and its counts are "
    "bidirectional (export NetFlow/IPFIX from the same sensor instead)",
    "netflow_v1": "NetFlow v1 is not read (no exporter has sent it for decades)",
    "unknown": "not a flow format hermit knows (nfcapd, nfdump CSV/JSON, goflow2 JSON, IPFIX, "
    "NetFlow v5/v9 packets, pcap of export packets)",
}


def read_flow_file(stored: bytes, name: str = "") -> tuple[pl.DataFrame, str]:
    """The rows of one raw file (gzip or not) and the format detected from its content."""
    inflated = inflate(stored)
    data = inflated.data
    kind = detect(data, name.removesuffix(".gz"))
    frame = _read(data, kind)
    if inflated.damage:
        frame = pl.concat([frame, problem_rows("corrupt_stream", inflated.damage)])
    fmt = {"nfdump_ndjson": "nfdump_json"}.get(kind, kind)
    return frame.with_columns(pl.lit(fmt, pl.String).alias("format")), fmt


def _read(data: bytes, kind: str) -> pl.DataFrame:
    if kind == "empty":
        return empty_read()
    if kind in UNSUPPORTED:
        return problem_rows("unsupported_format", UNSUPPORTED[kind], data[:256].hex())
    if kind == "nfcapd":
        return read_nfcapd(data)
    if kind in ("netflow_v5", "netflow_v9", "ipfix", "pcap"):
        return _packets(data, kind)
    text = data.decode("utf-8", errors="replace")
    if kind == "nfdump_csv":
        return read_nfdump_csv(text)
    return read_json_flows(text, kind)


def _packets(data: bytes, kind: str) -> pl.DataFrame:
    decoder = PacketDecoder()
    stop = None
    if kind == "pcap":
        payloads, stop = udp_payloads(data)
        for number, (payload, exporter) in enumerate(payloads, start=1):
            decoder.add(payload, number, exporter)
    elif kind == "ipfix":
        messages, stop = ipfix_messages(data)
        for number, message in enumerate(messages, start=1):
            decoder.add(message, number)
    else:  # one NetFlow export packet (a UDP payload saved as a file)
        decoder.add(data, 1)
    frame = decoder.frame()
    if stop:
        frame = pl.concat([frame, problem_rows("corrupt_stream", stop)])
    return frame
