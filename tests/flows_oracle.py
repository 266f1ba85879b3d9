"""pmacct's own decoding of its test pcaps, as an oracle for hermit's flows.

pmacct aggregates flows by the primitives its test configures and prints times in whole
seconds, so both sides are summed per (addresses, ports, protocol[, start, end]) before they
are compared; a key matches when packets and bytes are equal.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import polars as pl


def _protocol(name) -> int | None:
    if name is None or str(name).isdigit():
        return None if name is None else int(name)
    try:
        return socket.getprotobyname(str(name))
    except OSError:
        return {"vrrp": 112, "ipv6-icmp": 58, "pim": 103}.get(str(name).lower())


def pmacct_rows(case: Path) -> pl.DataFrame:
    rows = []
    for f in sorted(case.glob("output-flow-*.json")):
        for line in f.read_text().splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            rows.append(
                {
                    "src_addr": r.get("ip_src"),
                    "dst_addr": r.get("ip_dst"),
                    "src_port": r.get("port_src"),
                    "dst_port": r.get("port_dst"),
                    "protocol": _protocol(r.get("ip_proto")),
                    "start_s": _secs(r.get("timestamp_start")),
                    "end_s": _secs(r.get("timestamp_end")),
                    "packets": r.get("packets"),
                    "bytes": r.get("bytes"),
                    "file": f.name,
                }
            )
    return pl.DataFrame(rows, infer_schema_length=None)


def _secs(v) -> int | None:
    return None if v in (None, "") else int(float(v))


def match_share(hermit: pl.DataFrame, oracle: pl.DataFrame) -> tuple[float, int]:
    """Share of pmacct's flows that hermit's rows reproduce, flow by flow: a pmacct row matches
    an unused hermit row with the same addresses, ports and protocol, equal packets and bytes
    (as exported, or scaled once by hermit's sampling rate where pmacct renormalised) and,
    where pmacct prints both flow times, start and end within its one-second resolution. A
    pmacct row that sums several flows (its aggregation) matches the sum of all hermit rows
    of its 5-tuple. Only pmacct's first output of a case is compared (later ones replay the
    same packets under another configuration)."""
    first = sorted(oracle["file"].unique())[0]
    theirs = oracle.filter(pl.col("file") == first)
    key = ("src_addr", "dst_addr", "src_port", "dst_port", "protocol")
    ours: dict[tuple, list[dict]] = {}
    for r in hermit.iter_rows(named=True):
        k = (r["src_addr"], r["dst_addr"], r["src_port"] or 0, r["dst_port"] or 0, r["protocol"])
        ours.setdefault(k, []).append(r)
    matched = 0
    for t in theirs.iter_rows(named=True):
        candidates = ours.get(tuple(t[c] if t[c] is not None else 0 for c in key), [])
        hit = next((r for r in candidates if _same_flow(t, [r])), None)
        if hit is not None:
            candidates.remove(hit)
            matched += 1
        elif candidates and _same_flow(t, candidates, times=False):
            matched += 1
    return (matched / theirs.height if theirs.height else 0.0), theirs.height


def _same_flow(t: dict, rows: list[dict], times: bool = True) -> bool:
    packets, octets = sum(r["packets"] for r in rows), sum(r["bytes"] for r in rows)
    rate = rows[0]["sampling_rate"] or 1
    counts = (t["packets"], t["bytes"]) in ((packets, octets), (packets * rate, octets * rate))
    if not counts or not times or t["start_s"] is None or t["end_s"] is None:
        return counts
    start, end = rows[0]["start"].timestamp(), rows[0]["end"].timestamp()
    return abs(t["start_s"] - start) <= 1 and abs(t["end_s"] - end) <= 1
