"""The validated `flows` table, its quarantine, and the columns readers hand to validation."""

from __future__ import annotations

import polars as pl

FLOWS_SCHEMA: dict[str, pl.DataType] = {
    "start": pl.Datetime("us", "UTC"),  # first packet
    "end": pl.Datetime("us", "UTC"),  # last packet
    "duration": pl.Float64(),  # seconds, end - start
    "src_addr": pl.String(),
    "dst_addr": pl.String(),
    "src_port": pl.Int32(),
    "dst_port": pl.Int32(),
    "protocol": pl.Int16(),  # IANA protocol number (6 tcp, 17 udp, 1 icmp, ...)
    "packets": pl.Int64(),  # as exported (see counts_scaled)
    "bytes": pl.Int64(),
    "tcp_flags": pl.Int16(),  # OR of the TCP flags seen (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32)
    "in_if": pl.Int64(),  # SNMP ifIndex of the input / output interface
    "out_if": pl.Int64(),
    "src_as": pl.Int64(),  # origin ASNs when the exporter gives them (null otherwise)
    "dst_as": pl.Int64(),
    "sampling_rate": pl.Int64(),  # 1 in N packets; null when the source does not say
    "counts_scaled": pl.Boolean(),  # packets/bytes already multiplied by the sampling rate
    "exporter": pl.String(),  # the raw folder's exporter name
    "exporter_address": pl.String(),  # the exporting device's address, when known
    "format": pl.String(),  # the raw format the row was read from (FORMATS)
}

# What readers produce: the table's source columns, loosely typed (validation casts them),
# plus where each record came from. Absent fields are null.
READ_COLUMNS: dict[str, pl.DataType] = {
    "start_us": pl.Int64(),  # epoch microseconds
    "end_us": pl.Int64(),
    "src_addr": pl.String(),
    "dst_addr": pl.String(),
    "src_port": pl.Int64(),
    "dst_port": pl.Int64(),
    "protocol": pl.Int64(),
    "packets": pl.Int64(),
    "bytes": pl.Int64(),
    "tcp_flags": pl.Int64(),
    "in_if": pl.Int64(),
    "out_if": pl.Int64(),
    "src_as": pl.Int64(),
    "dst_as": pl.Int64(),
    "sampling_rate": pl.Int64(),
    "counts_scaled": pl.Boolean(),
    "exporter_address": pl.String(),
    "line_number": pl.Int64(),  # 1-based line (text) or record number (binary)
    "raw": pl.String(),  # the record's text, or a JSON rendering of a decoded record
    "problem": pl.String(),  # a reader-detected reason (type_error, ...), null when sound
    "problem_detail": pl.String(),
}

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "reason": pl.String(),
    "detail": pl.String(),
    "source_file": pl.String(),
    "line_number": pl.Int64(),
    "raw": pl.String(),
    "exporter": pl.String(),
}

REASONS = (
    "parse_error",  # a line or record that does not parse
    "type_error",  # a value that does not convert
    "bad_ip",
    "negative_count",
    "missing_field",  # start, addresses, protocol, packets or bytes absent
    "late",
    "future",
    "duplicate",  # the same flow (exporter, times, 5-tuple, counts) seen before in the day
    "truncated_line",
    "corrupt_stream",  # damaged gzip / nfcapd file: the records before the damage are kept
    "corrupt_packet",  # an export packet (or IPFIX message) that does not decode
    "template_missing",  # a NetFlow v9 / IPFIX data set whose template never arrived
    "impossible_duration",  # longer than MAX_DURATION_S
    "end_before_start",
    "unsupported_format",  # a file hermit recognises but does not read (sFlow, Argus, ...)
)

FORMATS = (
    "nfcapd",
    "nfdump_csv",
    "nfdump_json",
    "goflow2_json",  # goflow2 v2 (snake_case keys)
    "goflow_json",  # goflow and goflow2 v1 (CamelCase keys)
    "ipfix",
    "netflow_v5",
    "netflow_v9",
    "pcap",  # a capture of NetFlow / IPFIX export datagrams
)

MAX_DURATION_S = 7 * 86_400  # an exporter's active timeout is minutes; days mean a broken clock

# Fields a record cannot be validated without.
REQUIRED = ("start_us", "src_addr", "dst_addr", "protocol", "packets", "bytes")

# The identity of a flow record, for duplicates.
DEDUP_KEY = (
    "exporter",
    "exporter_address",
    "start",
    "end",
    "src_addr",
    "dst_addr",
    "src_port",
    "dst_port",
    "protocol",
    "packets",
    "bytes",
    "in_if",
    "out_if",
)


def empty_read() -> pl.DataFrame:
    return pl.DataFrame(schema=READ_COLUMNS)


def problem_rows(
    reason: str, detail: str, raw: str | None = None, line_number: int | None = None
) -> pl.DataFrame:
    """One reader-level problem record (a packet, a data set, a file), in READ_COLUMNS."""
    return pl.DataFrame(
        {
            "line_number": [line_number],
            "raw": [raw],
            "problem": [reason],
            "problem_detail": [detail],
        },
        schema={k: READ_COLUMNS[k] for k in ("line_number", "raw", "problem", "problem_detail")},
    ).select(
        [
            pl.col(c)
            if c in ("line_number", "raw", "problem", "problem_detail")
            else pl.lit(None, t).alias(c)
            for c, t in READ_COLUMNS.items()
        ]
    )
