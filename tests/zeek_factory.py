"""Generate Zeek TSV / JSON log text for tests (and the reader benchmark)."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import polars as pl

CONN_FIELDS: dict[str, str] = {
    "ts": "time",
    "uid": "string",
    "id.orig_h": "addr",
    "id.orig_p": "port",
    "id.resp_h": "addr",
    "id.resp_p": "port",
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
}

DNS_FIELDS: dict[str, str] = {
    "ts": "time",
    "uid": "string",
    "id.orig_h": "addr",
    "id.orig_p": "port",
    "id.resp_h": "addr",
    "id.resp_p": "port",
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
}

SSL_FIELDS: dict[str, str] = {
    "ts": "time",
    "uid": "string",
    "id.orig_h": "addr",
    "id.orig_p": "port",
    "id.resp_h": "addr",
    "id.resp_p": "port",
    "version": "string",
    "cipher": "string",
    "server_name": "string",
    "established": "bool",
    "cert_chain_fps": "vector[string]",
}

HTTP_FIELDS: dict[str, str] = {
    "ts": "time",
    "uid": "string",
    "id.orig_h": "addr",
    "id.orig_p": "port",
    "id.resp_h": "addr",
    "id.resp_p": "port",
    "trans_depth": "count",
    "method": "string",
    "host": "string",
    "uri": "string",
    "user_agent": "string",
    "request_body_len": "count",
    "response_body_len": "count",
    "status_code": "count",
    "tags": "set[enum]",
    "resp_mime_types": "vector[string]",
}

FIELDS = {"conn": CONN_FIELDS, "dns": DNS_FIELDS, "ssl": SSL_FIELDS, "http": HTTP_FIELDS}


def epoch(day: dt.date, hour: int = 12, minute: int = 0, second: float = 0.0) -> float:
    base = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()
    return base + hour * 3600 + minute * 60 + second


def conn_record(ts: float, uid: str, **over: object) -> dict[str, object]:
    rec: dict[str, object] = {
        "ts": f"{ts:.6f}",
        "uid": uid,
        "id.orig_h": "10.0.0.1",
        "id.orig_p": "50000",
        "id.resp_h": "93.184.216.34",
        "id.resp_p": "443",
        "proto": "tcp",
        "service": "ssl",
        "duration": "1.250000",
        "orig_bytes": "100",
        "resp_bytes": "2000",
        "conn_state": "SF",
        "local_orig": "T",
        "local_resp": "F",
        "missed_bytes": "0",
        "history": "ShADadFf",
        "orig_pkts": "5",
        "orig_ip_bytes": "400",
        "resp_pkts": "6",
        "resp_ip_bytes": "2400",
        "tunnel_parents": "-",
    }
    rec.update({k: str(v) for k, v in over.items()})
    return rec


def tsv_block(
    fields: Mapping[str, str],
    rows: Iterable[Mapping[str, object] | Sequence[object] | str],
    *,
    path: str = "conn",
    node_name: str | None = None,
    close: bool = True,
    set_separator: str = ",",
    open_ts: str = "2024-04-19-00-00-00",
) -> str:
    """One Zeek header block, its data lines and #close.

    Rows: dicts by field name, sequences of values, or raw line strings.
    """
    names = (["_node_name"] if node_name else []) + list(fields)
    types = (["string"] if node_name else []) + list(fields.values())
    out = [
        "#separator \\x09",
        f"#set_separator\t{set_separator}",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        f"#path\t{path}",
        f"#open\t{open_ts}",
        "#fields\t" + "\t".join(names),
        "#types\t" + "\t".join(types),
    ]
    for row in rows:
        if isinstance(row, str):
            out.append(row)
            continue
        values = [row.get(f, "-") for f in fields] if isinstance(row, Mapping) else list(row)
        out.append("\t".join(([node_name] if node_name else []) + [str(v) for v in values]))
    if close:
        out.append("#close\t2024-04-19-01-00-00")
    return "\n".join(out) + "\n"


def json_lines(records: Iterable[Mapping[str, object] | str]) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def gz(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def bulk_conn_tsv(n: int, day: dt.date = dt.date(2024, 4, 19), seed: int = 7) -> bytes:
    """A realistic-looking one-header conn log of n records (vectorised; for benchmarks)."""
    rng = np.random.default_rng(seed)
    start = epoch(day, 0)
    ts = np.sort(start + rng.uniform(0, 86_399, n))
    o4 = rng.integers(0, 256, (n, 2))
    r4 = rng.integers(1, 255, (n, 4))
    df = pl.DataFrame(
        {
            "ts": ts,
            "uid": pl.Series(rng.integers(10**15, 10**16, n)).cast(pl.String),
            "o3": o4[:, 0],
            "o4": o4[:, 1],
            "orig_p": rng.integers(1024, 65535, n),
            "r1": r4[:, 0],
            "r2": r4[:, 1],
            "r3": r4[:, 2],
            "r4": r4[:, 3],
            "resp_p": rng.choice([53, 80, 443, 8080, 22], n),
            "proto": rng.choice(["tcp", "udp"], n),
            "service": rng.choice(["ssl", "http", "dns", "-"], n),
            "duration": rng.exponential(3.0, n),
            "orig_bytes": rng.integers(0, 10_000, n),
            "resp_bytes": rng.integers(0, 1_000_000, n),
            "conn_state": rng.choice(["SF", "S0", "REJ", "RSTO"], n),
            "history": rng.choice(["ShADadFf", "S", "Sr", "Dd"], n),
            "orig_pkts": rng.integers(1, 100, n),
            "resp_pkts": rng.integers(0, 100, n),
        }
    )
    out = df.select(
        pl.col("ts").map_batches(lambda s: pl.Series(np.char.mod("%.6f", s.to_numpy()))),
        pl.concat_str(pl.lit("C"), "uid").alias("uid"),
        pl.format("10.1.{}.{}", "o3", "o4").alias("id.orig_h"),
        "orig_p",
        pl.format("{}.{}.{}.{}", "r1", "r2", "r3", "r4").alias("id.resp_h"),
        "resp_p",
        "proto",
        "service",
        pl.col("duration").round(6),
        "orig_bytes",
        "resp_bytes",
        "conn_state",
        pl.lit("T").alias("local_orig"),
        pl.lit("F").alias("local_resp"),
        pl.lit(0).alias("missed_bytes"),
        "history",
        "orig_pkts",
        (pl.col("orig_bytes") + 40 * pl.col("orig_pkts")).alias("orig_ip_bytes"),
        "resp_pkts",
        (pl.col("resp_bytes") + 40 * pl.col("resp_pkts")).alias("resp_ip_bytes"),
        pl.lit("-").alias("tunnel_parents"),
    )
    head = tsv_block(CONN_FIELDS, [], close=False, node_name=None)
    body = out.write_csv(separator="\t", include_header=False, quote_style="never")
    return (head + body + "#close\t2024-04-20-00-00-00\n").encode()


def raw_file(content: str | bytes, folder: dt.date, name: str = "conn.log", sensor: str = "s1"):
    """A RawFile for validate_partition, stored under `<folder>/<name>`."""
    from assets.validated.transform import RawFile

    data = content.encode() if isinstance(content, str) else content
    return RawFile(
        source_file=f"zeek/{sensor}/{folder.isoformat()}/{name}",
        folder_day=folder,
        sensor=sensor,
        load=lambda: data,
    )
