"""Validated flow records -> one row per connection, shaped like validated conn records.

A connection's records are the two directions (A:p->B:q and B:q->A:p) and the pieces an
exporter's active timeout cuts each direction into. Records of one exporter with the same
protocol and the same pair of endpoints (ports ignored for ICMP and port-less protocols)
belong to one connection while each record starts within a gap tolerance of the latest end
seen so far; a TCP record with SYN after a FIN or RST, and after everything before it ended,
opens a new connection (the client reused its port).

The initiator (``id_orig_*``, Zeek's originator) is, in order of evidence: the side that sent
a SYN without ACK (TCP) or an echo request (ICMP); the side whose first record started
earlier (unsampled records only, both directions seen: at 1:N sampling the first record is a
random packet); the side with the higher port (the ephemeral one); the side of the earlier
record; for two that began at once, the smaller address. Which side is local (inside a
monitored network) is decided later, by direction.

Counts apply the sampling rate exactly once: records whose counts the collector already
scaled are taken as they are, the others are multiplied by their rate.
"""

from __future__ import annotations

import polars as pl

__all__ = [
    "FLOW_INPUT_COLUMNS",
    "FLOW_SESSION_COLUMNS",
    "GAP_TOLERANCE_S",
    "PORTED",
    "flow_sessions",
    "scaled_counts",
]

# Gap tolerance per protocol: a record starting more than this after the connection's last
# packet starts a new connection. Zeek ends a connection after the same idle times (its
# tcp/udp/icmp_inactivity_timeout defaults), so flows and Zeek count sessions on one basis;
# an exporter's active timeout (typically 60-1800 s) cuts pieces with no gap at all, and its
# inactive timeout (15-60 s) is below these, so an idle-but-open connection is stitched too.
GAP_TOLERANCE_S = {"tcp": 300.0, "udp": 60.0, "icmp": 60.0, "unknown_transport": 60.0}

_PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}  # ICMPv6 is icmp, as in Zeek
PORTED = (6, 17, 132)  # protocols whose records carry real ports (sctp keeps them too)
_FIN, _SYN, _RST, _ACK = 1, 2, 4, 16
_ECHO_REQUESTS = (8, 128)  # ICMP / ICMPv6 echo request types

# What flow_sessions returns: the validated conn columns categorise reads, then the flow's
# own: how many records were merged, the packets per direction, the sampling, and the origin
# ASNs the exporter reported for each side (null when it gave none).
FLOW_SESSION_COLUMNS: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "uid": pl.String(),
    "sensor": pl.String(),
    "id_orig_h": pl.String(),
    "id_resp_h": pl.String(),
    "id_orig_p": pl.Int32(),
    "id_resp_p": pl.Int32(),
    "proto": pl.String(),
    "service": pl.String(),
    "duration": pl.Float64(),
    "orig_bytes": pl.Int64(),
    "resp_bytes": pl.Int64(),
    "conn_state": pl.String(),
    "orig_pkts": pl.Int64(),
    "resp_pkts": pl.Int64(),
    "flows": pl.Int64(),
    "sampling_rate": pl.Int64(),
    "estimated": pl.Boolean(),
    "orig_as": pl.UInt32(),
    "resp_as": pl.UInt32(),
    "source": pl.String(),
}

# The validated flow columns flow_sessions reads: the layer reads no others from the lake.
FLOW_INPUT_COLUMNS = (
    "start",
    "end",
    "src_addr",
    "dst_addr",
    "src_port",
    "dst_port",
    "protocol",
    "packets",
    "bytes",
    "tcp_flags",
    "src_as",
    "dst_as",
    "sampling_rate",
    "counts_scaled",
    "exporter",
)


def scaled_counts(col: str) -> pl.Expr:
    """``col`` (packets or bytes) as an estimate of what passed: times the sampling rate
    unless the collector already multiplied it."""
    rate = pl.col("sampling_rate")
    scale = (rate > 1) & ~pl.col("counts_scaled").fill_null(False)
    return pl.when(scale).then(pl.col(col) * rate).otherwise(pl.col(col)).alias(col)


def _coded(frame: pl.DataFrame, col: str, codes: pl.DataFrame, out: str) -> pl.DataFrame:
    """``frame`` with ``out``, the code of ``frame[col]`` in ``codes`` (_text, _code)."""
    return frame.join(
        codes.rename({"_text": col, "_code": out}), on=col, how="left", maintain_order="left"
    )


def _decoded(frame: pl.DataFrame, col: str, codes: pl.DataFrame, out: str) -> pl.DataFrame:
    return frame.join(
        codes.rename({"_code": col, "_text": out}), on=col, how="left", maintain_order="left"
    )


def _as(col: str) -> pl.Expr:
    # 0 is "unknown" in NetFlow's AS fields, and 2^32 - 1 is reserved
    return pl.when((pl.col(col) > 0) & (pl.col(col) < 2**32 - 1)).then(pl.col(col))


def _conn_state(orig_flags: pl.Expr, resp_flags: pl.Expr, resp_pkts: pl.Expr, sampled: pl.Expr):
    """Zeek's state where a connection's TCP flags prove it, else null: S0 an attempt with no
    answer (only SYNs went out, nothing came back), REJ an attempt answered by a reset.
    Never for sampled records: an answer that was not sampled is not an answer missing."""
    orig = orig_flags.fill_null(0)
    resp = resp_flags.fill_null(0)
    attempt = (pl.col("protocol") == 6) & ~sampled & (orig == _SYN)
    return (
        pl.when(attempt & (resp_pkts.fill_null(0) == 0))
        .then(pl.lit("S0"))
        .when(attempt & (resp & _RST != 0) & (resp & (_SYN | _FIN) == 0))
        .then(pl.lit("REJ"))
        .otherwise(pl.lit(None, pl.String))
    )


def flow_sessions(flows: pl.DataFrame) -> pl.DataFrame:
    """One day's validated flow records (FLOWS_SCHEMA) -> one row per connection
    (FLOW_SESSION_COLUMNS), ordered by start. Every record lands in exactly one row:
    ``flows`` counts them, so ``flow_sessions(f)["flows"].sum() == f.height``."""
    if flows.height == 0:
        return pl.DataFrame(schema=FLOW_SESSION_COLUMNS)
    ported = pl.col("protocol").is_in(PORTED)
    missing = [c for c in FLOW_INPUT_COLUMNS if c not in flows.columns]
    if missing:
        raise ValueError(f"flow records lack columns {missing}")
    # Addresses and exporters as integer codes: sorting and grouping millions of records on
    # text costs several times more. Any consistent order of the codes gives the same sessions.
    addresses = pl.concat(
        [flows.select(_text=pl.col("src_addr")), flows.select(_text=pl.col("dst_addr"))]
    ).unique()
    addresses = addresses.with_row_index("_code")
    names = flows.select(_text=pl.col("exporter").cast(pl.String)).unique().with_row_index("_code")
    f = flows.select(
        "start",
        pl.coalesce("end", "start").alias("end"),
        "src_addr",
        "dst_addr",
        "exporter",
        "protocol",
        pl.col("tcp_flags").fill_null(0),
        pl.col("sampling_rate"),
        # the key's ports: ICMP carries type and code in dst_port, which differ by direction
        _sp=pl.when(ported).then(pl.col("src_port")).otherwise(0).fill_null(0),
        _dp=pl.when(ported).then(pl.col("dst_port")).otherwise(0).fill_null(0),
        _icmp_type=pl.when(~ported).then(pl.col("dst_port").fill_null(0) // 256),
        _icmp_code=pl.when(~ported).then(pl.col("dst_port").fill_null(0) % 256),
        packets=scaled_counts("packets"),
        bytes=scaled_counts("bytes"),
        _src_as=_as("src_as"),
        _dst_as=_as("dst_as"),
    )
    f = _coded(f, "src_addr", addresses, "_sc")
    f = _coded(f, "dst_addr", addresses, "_dc")
    f = _coded(f.with_columns(pl.col("exporter").cast(pl.String)), "exporter", names, "_ec")
    f = f.drop("src_addr", "dst_addr", "exporter")
    # canonical endpoints: lo is the smaller (address code, port) of the two
    fwd = (pl.col("_sc") < pl.col("_dc")) | (
        (pl.col("_sc") == pl.col("_dc")) & (pl.col("_sp") <= pl.col("_dp"))
    )
    f = f.with_columns(
        _fwd=fwd,
        _lo_h=pl.when(fwd).then("_sc").otherwise("_dc"),
        _lo_p=pl.when(fwd).then("_sp").otherwise("_dp"),
        _hi_h=pl.when(fwd).then("_dc").otherwise("_sc"),
        _hi_p=pl.when(fwd).then("_dp").otherwise("_sp"),
    ).drop("_sc", "_dc", "_sp", "_dp")
    # one 128-bit sort key (exporter 16 bits, protocol 8, then address code 32 and port 16 for
    # each side): one integer column sorts several times faster than six
    if names.height >= 2**16 or addresses.height >= 2**32:
        raise ValueError("more than 65535 exporters or 2^32 addresses in one day")
    packed = pl.lit(0, pl.UInt128)
    for col, bits in (("_ec", 8), ("protocol", 32), ("_lo_h", 16), ("_lo_p", 32), ("_hi_h", 16)):
        packed = (packed + pl.col(col).cast(pl.UInt128)) * pl.lit(2**bits, pl.UInt128)
    packed = packed + pl.col("_hi_p").cast(pl.UInt128)
    f = f.with_columns(_k=packed).sort("_k", "start", "end")
    same_key = pl.col("_k") == pl.col("_k").shift(1)
    f = f.with_columns(_same=same_key.fill_null(False)).with_columns(
        _key=(~pl.col("_same")).cum_sum().cast(pl.Int64)
    )
    # The latest end among a key's earlier records, with no window per key (millions of tiny
    # groups are slow): ends as dense ranks, offset by the ascending key number, keep one
    # running maximum inside each key.
    width = f.height + 1
    running = (pl.col("_key") * width + pl.col("end").rank("dense").cast(pl.Int64)).cum_max()
    f = f.with_columns(
        _prev_rank=pl.when("_same").then(running.shift(1) - pl.col("_key") * width - 1),
        _prev_flags=pl.when("_same").then(pl.col("tcp_flags").shift(1)),
    )
    ends = f.get_column("end").unique().sort()
    prev_end = pl.lit(ends).gather(pl.col("_prev_rank"))
    prev_flags = pl.col("_prev_flags")
    tolerance = pl.col("protocol").replace_strict(
        {n: GAP_TOLERANCE_S[name] for n, name in _PROTO_NAMES.items()},
        default=GAP_TOLERANCE_S["unknown_transport"],
        return_dtype=pl.Float64,
    )
    gap_s = (pl.col("start") - prev_end).dt.total_microseconds() / 1e6
    reused = (
        (pl.col("protocol") == 6)
        & (pl.col("tcp_flags") & _SYN != 0)
        & (prev_flags & (_FIN | _RST) != 0)
        & (gap_s > 0)
    )
    f = f.with_columns(_new=prev_end.is_null() | (gap_s > tolerance) | reused.fill_null(False))
    f = f.with_columns(_sid=pl.col("_new").cum_sum())

    lo, hi = pl.col("_fwd"), ~pl.col("_fwd")
    syn_only = (pl.col("protocol") == 6) & (pl.col("tcp_flags") & (_SYN | _ACK) == _SYN)
    echo = pl.col("_icmp_type").is_in(_ECHO_REQUESTS)

    def side_sum(col: str, mask: pl.Expr) -> pl.Expr:
        return pl.col(col).filter(mask).sum()

    s = f.group_by("_sid").agg(
        pl.col("_ec", "protocol", "_lo_h", "_lo_p", "_hi_h", "_hi_p").first(),
        ts=pl.col("start").min(),
        end=pl.col("end").max(),
        flows=pl.len(),
        lo_bytes=side_sum("bytes", lo),
        hi_bytes=side_sum("bytes", hi),
        lo_pkts=side_sum("packets", lo),
        hi_pkts=side_sum("packets", hi),
        lo_start=pl.col("start").filter(lo).min(),
        hi_start=pl.col("start").filter(hi).min(),
        lo_syn=syn_only.filter(lo).any(),
        lo_flags=pl.col("tcp_flags").filter(lo).bitwise_or(),
        hi_flags=pl.col("tcp_flags").filter(hi).bitwise_or(),
        hi_syn=syn_only.filter(hi).any(),
        lo_echo=echo.filter(lo).any(),
        hi_echo=echo.filter(hi).any(),
        first_fwd=pl.col("_fwd").first(),  # rows are sorted by start within a connection
        lo_type=pl.col("_icmp_type").filter(lo).first(),
        lo_code=pl.col("_icmp_code").filter(lo).first(),
        hi_type=pl.col("_icmp_type").filter(hi).first(),
        hi_code=pl.col("_icmp_code").filter(hi).first(),
        # the origin AS of each side, from the records of either direction
        lo_as=pl.coalesce(pl.col("_src_as").filter(lo).max(), pl.col("_dst_as").filter(hi).max()),
        hi_as=pl.coalesce(pl.col("_dst_as").filter(lo).max(), pl.col("_src_as").filter(hi).max()),
        sampling_rate=pl.col("sampling_rate").max(),
    )
    del f
    s = _decoded(_decoded(s, "_lo_h", addresses, "_lo_a"), "_hi_h", addresses, "_hi_a")
    s = _decoded(s, "_ec", names, "exporter")
    both = pl.col("lo_start").is_not_null() & pl.col("hi_start").is_not_null()
    sampled = pl.col("sampling_rate").fill_null(1) > 1
    port_rule = pl.col("protocol").is_in(PORTED) & (pl.col("_lo_p") != pl.col("_hi_p"))
    lo_first = (
        pl.when(pl.col("lo_syn") != pl.col("hi_syn"))
        .then(pl.col("lo_syn"))
        .when(pl.col("lo_echo") != pl.col("hi_echo"))
        .then(pl.col("lo_echo"))
        .when(both & ~sampled & (pl.col("lo_start") != pl.col("hi_start")))
        .then(pl.col("lo_start") < pl.col("hi_start"))
        .when(port_rule)
        .then(pl.col("_lo_p") > pl.col("_hi_p"))
        .when(both & (pl.col("lo_start") != pl.col("hi_start")))
        .then(pl.col("lo_start") < pl.col("hi_start"))
        # both sides began at once: the smaller address text, so the answer never depends
        # on the order of the input or of the codes
        .when(both)
        .then(pl.col("_lo_a") <= pl.col("_hi_a"))
        .otherwise(pl.col("first_fwd"))
    )
    s = s.with_columns(_lo_orig=lo_first)

    def pick(lo_col: str, hi_col: str, *, orig: bool) -> pl.Expr:
        a, b = (lo_col, hi_col) if orig else (hi_col, lo_col)
        return pl.when(pl.col("_lo_orig")).then(pl.col(a)).otherwise(pl.col(b))

    icmp = ~pl.col("protocol").is_in(PORTED)
    # ICMP as Zeek logs it: orig_p is the initiator's message type, resp_p its code
    orig_p = pl.when(icmp).then(
        pl.coalesce(pick("lo_type", "hi_type", orig=True), pick("hi_type", "lo_type", orig=True))
    )
    resp_p = pl.when(icmp).then(
        pl.coalesce(pick("lo_code", "hi_code", orig=True), pick("hi_code", "lo_code", orig=True))
    )
    out = s.with_columns(
        id_orig_h=pick("_lo_a", "_hi_a", orig=True),
        id_resp_h=pick("_lo_a", "_hi_a", orig=False),
        id_orig_p=orig_p.otherwise(pick("_lo_p", "_hi_p", orig=True)),
        id_resp_p=resp_p.otherwise(pick("_lo_p", "_hi_p", orig=False)),
        orig_bytes=pick("lo_bytes", "hi_bytes", orig=True),
        resp_bytes=pick("lo_bytes", "hi_bytes", orig=False),
        orig_pkts=pick("lo_pkts", "hi_pkts", orig=True),
        resp_pkts=pick("lo_pkts", "hi_pkts", orig=False),
        orig_as=pick("lo_as", "hi_as", orig=True),
        resp_as=pick("lo_as", "hi_as", orig=False),
        duration=(pl.col("end") - pl.col("ts")).dt.total_microseconds() / 1e6,
        estimated=sampled,
        sensor=pl.col("exporter"),
        proto=pl.col("protocol").replace_strict(
            _PROTO_NAMES, default="unknown_transport", return_dtype=pl.String
        ),
        service=pl.lit(None, pl.String),
        conn_state=_conn_state(
            pick("lo_flags", "hi_flags", orig=True),
            pick("lo_flags", "hi_flags", orig=False),
            pick("lo_pkts", "hi_pkts", orig=False),
            sampled,
        ),
        source=pl.lit("flow"),
    )
    # deterministic and unique within an exporter: the start and the connection's endpoints
    uid = pl.concat_str(
        pl.lit("F"),
        pl.col("ts").dt.epoch("us").cast(pl.String),
        pl.col("protocol").cast(pl.String),
        pl.concat_str(pl.col("id_orig_h"), pl.col("id_orig_p").cast(pl.String), separator=":"),
        pl.concat_str(pl.col("id_resp_h"), pl.col("id_resp_p").cast(pl.String), separator=":"),
        separator="-",
    )
    out = out.with_columns(uid=uid)
    return out.select([pl.col(c).cast(t) for c, t in FLOW_SESSION_COLUMNS.items()]).sort(
        "ts", "uid"
    )
