"""Validated table schemas (derived from the Zeek field types), quarantine schema, dedup keys."""

from __future__ import annotations

import polars as pl

from assets.core.vocabulary import ZEEK_TABLES
from assets.zeek.names import column_name
from assets.zeek.types import polars_dtype

TABLES = ZEEK_TABLES

_ID = {
    "ts": "time",
    "uid": "string",
    "id.orig_h": "addr",
    "id.orig_p": "port",
    "id.resp_h": "addr",
    "id.resp_p": "port",
}

# Zeek field -> Zeek type of the fields each table knows: the default fields of Zeek 3..7
# (plus a few that older releases logged by default). Any other field of a record goes to
# the `extra` column.
ZEEK_FIELDS: dict[str, dict[str, str]] = {
    "conn": {
        **_ID,
        "proto": "enum",
        "service": "string",
        "duration": "interval",
        "orig_bytes": "count",
        "resp_bytes": "count",
        "conn_state": "string",
        "local_orig": "bool",
        "local_resp": "bool",
        "missed_bytes": "count",
        "history": "string",
        "orig_pkts": "count",
        "orig_ip_bytes": "count",
        "resp_pkts": "count",
        "resp_ip_bytes": "count",
        "tunnel_parents": "set[string]",
        "ip_proto": "count",
    },
    "dns": {
        **_ID,
        "proto": "enum",
        "trans_id": "count",
        "rtt": "interval",
        "query": "string",
        "qclass": "count",
        "qclass_name": "string",
        "qtype": "count",
        "qtype_name": "string",
        "rcode": "count",
        "rcode_name": "string",
        "AA": "bool",
        "TC": "bool",
        "RD": "bool",
        "RA": "bool",
        "Z": "count",
        "answers": "vector[string]",
        "TTLs": "vector[interval]",
        "rejected": "bool",
    },
    "ssl": {
        **_ID,
        "version": "string",
        "cipher": "string",
        "curve": "string",
        "server_name": "string",
        "resumed": "bool",
        "last_alert": "string",
        "next_protocol": "string",
        "established": "bool",
        "ssl_history": "string",
        "cert_chain_fps": "vector[string]",
        "client_cert_chain_fps": "vector[string]",
        "sni_matches_cert": "bool",
        "validation_status": "string",
        "ja3": "string",
        "ja3s": "string",
        "cert_chain_fuids": "vector[string]",
        "client_cert_chain_fuids": "vector[string]",
        "subject": "string",
        "issuer": "string",
        "client_subject": "string",
        "client_issuer": "string",
    },
    "http": {
        **_ID,
        "trans_depth": "count",
        "method": "string",
        "host": "string",
        "uri": "string",
        "referrer": "string",
        "version": "string",
        "user_agent": "string",
        "origin": "string",
        "request_body_len": "count",
        "response_body_len": "count",
        "status_code": "count",
        "status_msg": "string",
        "info_code": "count",
        "info_msg": "string",
        "tags": "set[enum]",
        "username": "string",
        "password": "string",
        "proxied": "set[string]",
        "orig_fuids": "vector[string]",
        "orig_filenames": "vector[string]",
        "orig_mime_types": "vector[string]",
        "resp_fuids": "vector[string]",
        "resp_filenames": "vector[string]",
        "resp_mime_types": "vector[string]",
    },
}

# A record missing one of these (absent or unset) is quarantined as `missing_field`.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {t: tuple(_ID) for t in TABLES}

_TRAILER: dict[str, pl.DataType] = {
    "sensor": pl.String(),
    "node_name": pl.String(),
    "extra": pl.String(),  # JSON object text of the fields the table does not know
}

VALIDATED_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    table: {column_name(f): polars_dtype(t) for f, t in fields.items()} | _TRAILER
    for table, fields in ZEEK_FIELDS.items()
}

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "reason": pl.String(),
    "detail": pl.String(),
    "source_file": pl.String(),
    "line_number": pl.Int64(),
    "raw": pl.String(),
    "sensor": pl.String(),
}

REASONS = (
    "parse_error",
    "type_error",
    "bad_ip",
    "negative_count",
    "missing_field",
    "late",
    "future",
    "duplicate",
    "truncated_line",
    "corrupt_stream",
    "unreadable_file",
)

# One record per key within a partition (and sensor: uids are unique per Zeek deployment).
# dns: a real sensor logs some transactions twice, line for line (same uid, trans_id, query,
# ts); two different responses to one query (rcode, answers or `rejected` differ) are two
# records, so those fields are part of the key and only a record logged twice is a duplicate.
DEDUP_KEYS: dict[str, list[str]] = {
    "conn": ["uid"],
    "ssl": ["uid"],
    "http": ["uid", "trans_depth"],
    "dns": ["uid", "trans_id", "query", "qtype", "ts", "rcode", "answers", "rejected"],
}
