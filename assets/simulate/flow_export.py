"""The flow records a border router exports for a slice's connections.

Each connection that crosses the border (one end in a monitored network, the other outside)
becomes one flow per direction that carried packets; a connection longer than the active
timeout is cut into pieces, each exported when its timeout expires, the last when the
connection ends (TCP: its FIN or RST) or falls idle (inactive timeout). Packets and bytes are
the connection's own (Zeek's `*_pkts` and `*_ip_bytes`: IP packets and IP bytes, what
NetFlow counts), divided between the pieces by time with their totals kept.

With 1:N packet sampling each packet is kept with probability 1/N (a binomial draw per
piece from its own seeded generator); bytes follow the kept share of packets; a piece with
no kept packet is not exported. The counts exported are the sampled ones: the collector
scales them by the announced rate.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from assets.simulate.population import Prefixes

ACTIVE_TIMEOUT_S = 300
INACTIVE_TIMEOUT_S = 15
IF_INSIDE, IF_OUTSIDE = 2, 1
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
US = 1_000_000
RTT_MAX_US = 50_000

FLOW_COLUMNS = (
    "src", "dst", "sport", "dport", "proto", "flags", "in_if", "out_if", "packets", "bytes",
    "first_ms", "last_ms", "export_ms",
)  # fmt: skip


def ip_ints(s: pl.Series) -> np.ndarray:
    parts = s.str.split_exact(".", 3).struct.unnest()
    a, b, c, d = (parts[f"field_{i}"].cast(pl.Int64).to_numpy() for i in range(4))
    return ((a * 256 + b) * 256 + c) * 256 + d


def border_flows(
    conn: pl.DataFrame,
    local: Prefixes,
    *,
    sampling: int = 1,
    rng: np.random.Generator | None = None,
    active_timeout_s: int = ACTIVE_TIMEOUT_S,
) -> dict[str, np.ndarray]:
    """Flow records (FLOW_COLUMNS, numpy) of the Zeek-shaped `conn` records, sorted by export
    time. `local`: the monitored networks. `rng` draws the sampled packets (sampling > 1)."""
    if sampling < 1:
        raise ValueError("sampling must be >= 1")
    if sampling > 1 and rng is None:
        raise ValueError("sampling needs a seeded generator")
    orig = ip_ints(conn["id.orig_h"])
    resp = ip_ints(conn["id.resp_h"])
    orig_local = local.owner_of(orig) >= 0
    resp_local = local.owner_of(resp) >= 0
    crosses = orig_local != resp_local  # a lookup to the network's own resolver never leaves
    rows = np.flatnonzero(crosses)
    ts = conn["ts"].to_numpy()[rows]
    dur = conn["duration"].fill_null(0).to_numpy()[rows].astype(np.int64)
    tcp = conn["proto"].to_numpy()[rows] == "tcp"
    state = conn["conn_state"].to_numpy()[rows]
    sport = conn["id.orig_p"].to_numpy()[rows]
    dport = conn["id.resp_p"].to_numpy()[rows]
    outbound = orig_local[rows]

    # one row per (connection, direction) that carried packets
    sides = []
    for fwd in (True, False):
        pk = conn["orig_pkts" if fwd else "resp_pkts"].fill_null(0).to_numpy()[rows]
        by = conn["orig_ip_bytes" if fwd else "resp_ip_bytes"].fill_null(0).to_numpy()[rows]
        keep = pk > 0
        sides.append(
            {
                "src": np.where(fwd, orig[rows], resp[rows])[keep],
                "dst": np.where(fwd, resp[rows], orig[rows])[keep],
                "sport": np.where(fwd, sport, dport)[keep],
                "dport": np.where(fwd, dport, sport)[keep],
                "tcp": tcp[keep],
                "state": state[keep],
                "fwd": np.full(int(keep.sum()), fwd),
                "inside_src": (outbound if fwd else ~outbound)[keep],
                "ts": ts[keep],
                "dur": dur[keep],
                "pkts": pk[keep].astype(np.int64),
                "bytes": by[keep].astype(np.int64),
            }
        )
    d = {k: np.concatenate([s[k] for s in sides]) for k in sides[0]}

    # pieces cut by the active timeout
    t_us = active_timeout_s * US
    n_pieces = np.maximum(1, -(-d["dur"] // t_us))
    idx = np.repeat(np.arange(len(d["ts"])), n_pieces)
    k = np.arange(len(idx)) - np.repeat(np.cumsum(n_pieces) - n_pieces, n_pieces)
    dur = d["dur"][idx]
    lo = np.minimum(k * t_us, dur)
    hi = np.minimum((k + 1) * t_us, dur)
    last = k == n_pieces[idx] - 1
    # counts by elapsed time, cumulative so every connection's totals are kept exactly
    frac_hi = np.where(dur > 0, hi / np.maximum(dur, 1), 1.0)
    frac_lo = np.where(dur > 0, lo / np.maximum(dur, 1), 0.0)
    frac_hi = np.where(last, 1.0, frac_hi)
    pk_total, by_total = d["pkts"][idx], d["bytes"][idx]
    # rounded up: a connection's first packets (its SYN) are in its first piece
    cum_hi = np.minimum(np.ceil(pk_total * frac_hi - 1e-9).astype(np.int64), pk_total)
    cum_lo = np.minimum(np.ceil(pk_total * frac_lo - 1e-9).astype(np.int64), pk_total)
    pkts = cum_hi - cum_lo
    # bytes follow the packets (a piece with no packet carries no byte)
    byts = (by_total * cum_hi) // pk_total - (by_total * cum_lo) // pk_total
    start = d["ts"][idx] + lo
    end = d["ts"][idx] + hi
    # the answer's first packet leaves a round trip after the first packet in
    fwd = d["fwd"][idx]
    rtt = np.clip(dur // 100, 1000, RTT_MAX_US)
    start = np.where(~fwd & (k == 0), np.minimum(start + rtt, end), start)
    keep = pkts > 0

    tcp_p = d["tcp"][idx]
    st = d["state"][idx]
    first_piece = k == 0
    flags = np.where(tcp_p, ACK | PSH, 0)
    flags = flags | np.where(tcp_p & first_piece, SYN, 0) | np.where(tcp_p & last, FIN, 0)
    flags = np.where(tcp_p & (st == "S0"), SYN, flags)
    flags = np.where(tcp_p & (st == "REJ"), np.where(fwd, SYN, RST | ACK), flags)
    # exported when the timeout cuts it, or at its end: TCP's FIN/RST at once, else idle
    closes = tcp_p & (st != "S0")
    export = np.where(last, end + np.where(closes, US, INACTIVE_TIMEOUT_S * US), end)

    if sampling > 1:
        kept = rng.binomial(pkts, 1.0 / sampling)
        byts = np.where(pkts > 0, (byts * kept) // np.maximum(pkts, 1), 0)
        # one kept packet: the flow's first and last packet are the same one
        one = kept == 1
        at = start + (rng.random(len(kept)) * (end - start)).astype(np.int64)
        start = np.where(one, at, start)
        end = np.where(one, at, end)
        pkts = kept
        keep = pkts > 0

    inside = d["inside_src"][idx]
    out = {
        "src": d["src"][idx],
        "dst": d["dst"][idx],
        "sport": d["sport"][idx],
        "dport": d["dport"][idx],
        "proto": np.where(tcp_p, 6, 17),
        "flags": flags,
        "in_if": np.where(inside, IF_INSIDE, IF_OUTSIDE),
        "out_if": np.where(inside, IF_OUTSIDE, IF_INSIDE),
        "packets": pkts,
        "bytes": byts,
        "first_ms": start // 1000,
        "last_ms": end // 1000,
        "export_ms": export // 1000,
    }
    order = np.flatnonzero(keep)
    order = order[np.argsort(out["export_ms"][order], kind="stable")]
    return {c: np.asarray(out[c])[order].astype(np.int64) for c in FLOW_COLUMNS}
