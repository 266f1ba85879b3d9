"""Text flow exports -> flow rows (READ_COLUMNS): nfdump CSV (both header generations).

Columns are found by name, so the 1.7.1-and-older header (`ts,te,td,sa,da,sp,dp,pr,flg,...`)
and the 1.7.5-and-newer one (`firstSeen,duration,proto,srcAddr,...`) read alike, and so do
`-o csv` exports with fewer columns. nfdump prints times in its process's time zone: exports
are read as UTC (run nfdump with TZ=UTC). The summary block nfdump appends without `-q` is
not flow records.
"""

from __future__ import annotations

import polars as pl

from assets.flows.schema import READ_COLUMNS

# canonical source -> the header names nfdump has used for it (lower case)
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "start": ("ts", "firstseen", "first", "tstart"),
    "end": ("te", "lastseen", "last", "tend"),
    "duration": ("td", "duration"),
    "src_addr": ("sa", "srcaddr", "srcip"),
    "dst_addr": ("da", "dstaddr", "dstip"),
    "src_port": ("sp", "srcport"),
    "dst_port": ("dp", "dstport"),
    "protocol": ("pr", "proto", "protocol"),
    "tcp_flags": ("flg", "flags", "tcpflags"),
    "packets": ("ipkt", "pkt", "packets", "inpackets"),
    "bytes": ("ibyt", "byt", "bytes", "inbytes"),
    "in_if": ("in", "inif", "input"),
    "out_if": ("out", "outif", "output"),
    "src_as": ("sas", "srcas"),
    "dst_as": ("das", "dstas"),
    "exporter_address": ("ra", "exporterip", "router", "exporter"),
}

PROTOCOLS = {
    "ICMP": 1, "IGMP": 2, "IPIP": 4, "TCP": 6, "UDP": 17, "IPV6": 41, "RSVP": 46, "GRE": 47,
    "ESP": 50, "AH": 51, "ICMP6": 58, "IPV6-ICMP": 58, "OSPF": 89, "PIM": 103, "VRRP": 112,
    "L2TP": 115, "SCTP": 132,
}  # fmt: skip

_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f")


def read_nfdump_csv(text: str) -> pl.DataFrame:
    """Rows of an nfdump CSV export: one per data line, problems flagged, summary excluded."""
    ends_cleanly = text.endswith("\n")
    header_line, _, rest = text.partition("\n")
    header = [h.strip().lower() for h in header_line.rstrip("\r").split(",")]
    frame = _lines(rest).with_row_index("line_number", offset=2)
    frame = frame.with_columns(
        pl.col("line_number").cast(pl.Int64), pl.col("raw").str.strip_suffix("\r")
    )
    summary = frame.select(
        pl.col("raw").str.strip_chars().is_in(["Summary", "Summary:"]).arg_max()
    ).item()
    if summary is not None and frame["raw"][summary].strip().startswith("Summary"):
        frame = frame.head(summary)  # nfdump's totals block follows: not flow records
    frame = frame.filter(pl.col("raw").str.strip_chars() != "")
    if frame.height == 0:
        return _typed(frame, {}, header)
    last = frame.height - 1
    # split_exact: a fixed set of fields, columnar (much faster than lists per row)
    parts = pl.col("raw").str.split_exact(",", max(len(header) - 1, 0))
    frame = frame.with_columns(
        (pl.col("raw").str.count_matches(",", literal=True) + 1).alias("__n")
    )
    index = {name: i for i, name in enumerate(header)}
    cols = {}
    for target, names in CSV_COLUMNS.items():
        found = next((index[n] for n in names if n in index), None)
        if found is not None:
            cols[target] = parts.struct.field(f"field_{found}").str.strip_chars()
    frame = frame.with_columns(**cols) if cols else frame
    short = pl.col("__n") != len(header)
    truncated = short & (pl.int_range(pl.len()) == last) & pl.lit(not ends_cleanly)
    frame = frame.with_columns(
        pl.when(truncated)
        .then(pl.lit("truncated_line"))
        .when(short)
        .then(pl.lit("parse_error"))
        .alias("problem"),
        pl.when(short)
        .then(pl.format("{} fields where the header has " + str(len(header)), "__n"))
        .alias("problem_detail"),
    )
    return _typed(frame, cols, header)


def _lines(text: str) -> pl.DataFrame:
    """The text's lines (without a last empty one) as a `raw` column; polars splits them."""
    if not text:
        return pl.DataFrame({"raw": []}, schema={"raw": pl.String})
    body = text[:-1] if text.endswith("\n") else text
    return pl.DataFrame({"raw": pl.Series([body], dtype=pl.String).str.split("\n").explode()})


def _typed(frame: pl.DataFrame, cols: dict, header: list[str]) -> pl.DataFrame:
    """The CSV's text columns converted to READ_COLUMNS; unconvertible values flagged."""
    for c in CSV_COLUMNS:
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(c))
    if "problem" not in frame.columns:
        frame = frame.with_columns(
            pl.lit(None, pl.String).alias("problem"),
            pl.lit(None, pl.String).alias("problem_detail"),
        )
    start, end = _time("start"), _time("end")
    duration_us = (pl.col("duration").cast(pl.Float64, strict=False) * 1e6).round().cast(pl.Int64)
    converted = {
        "start_us": start,
        "end_us": pl.coalesce(end, start + duration_us),
        "src_addr": pl.col("src_addr"),
        "dst_addr": pl.col("dst_addr"),
        "src_port": _int(pl.col("src_port")),
        "dst_port": _int(pl.col("dst_port")),
        "protocol": protocol_number(pl.col("protocol")),
        "packets": _int(pl.col("packets")),
        "bytes": _int(pl.col("bytes")),
        "tcp_flags": tcp_flags(pl.col("tcp_flags")),
        "in_if": _int(pl.col("in_if")),
        "out_if": _int(pl.col("out_if")),
        "src_as": _int(pl.col("src_as")),
        "dst_as": _int(pl.col("dst_as")),
        "exporter_address": pl.col("exporter_address"),
    }
    # a value given but not converted is a type_error (the first such field is named)
    checked = [
        ("start", start),
        ("end", end),
        ("duration", duration_us),
        *[(c, converted[c]) for c in ("src_port", "dst_port", "protocol", "packets", "bytes")],
        *[(c, converted[c]) for c in ("tcp_flags", "in_if", "out_if", "src_as", "dst_as")],
    ]
    bad = [(pl.col(c).is_not_null() & (pl.col(c) != "") & e.is_null(), c) for c, e in checked]
    field = pl.coalesce(*[pl.when(cond).then(pl.lit(name)) for cond, name in bad])
    value = pl.coalesce(*[pl.when(cond).then(pl.col(name)) for cond, name in bad])
    flagged = pl.col("problem").is_null() & field.is_not_null()
    problem = pl.when(flagged).then(pl.lit("type_error")).otherwise(pl.col("problem"))
    detail = (
        pl.when(flagged)
        .then(pl.format("{} {} does not convert", field, value))
        .otherwise(pl.col("problem_detail"))
    )
    out = frame.with_columns(
        **{k: v for k, v in converted.items()},
        sampling_rate=pl.lit(None, pl.Int64),
        counts_scaled=pl.lit(None, pl.Boolean),
        problem=problem,
        problem_detail=detail,
    )
    return out.select([pl.col(c).cast(t) for c, t in READ_COLUMNS.items()])


def _time(col: str) -> pl.Expr:
    text = pl.col(col).str.replace(" ", "T", literal=True)  # nfdump: "YYYY-MM-DD hh:mm:ss.fff"
    parsed = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="us", strict=False)
    return parsed.dt.epoch("us")


def _int(e: pl.Expr) -> pl.Expr:
    return e.cast(pl.Int64, strict=False)


def protocol_number(e: pl.Expr) -> pl.Expr:
    """An IANA protocol number from a number or nfdump's protocol name."""
    name = e.cast(pl.String).str.strip_chars().str.to_uppercase()
    return pl.coalesce(
        name.cast(pl.Int64, strict=False),
        name.replace_strict(PROTOCOLS, default=None, return_dtype=pl.Int64),
    )


def tcp_flags(e: pl.Expr) -> pl.Expr:
    """TCP flags bits from a number or nfdump's `CEUAPRSF` string (`.` for unset)."""
    text = e.cast(pl.String).str.strip_chars()
    as_number = text.cast(pl.Int64, strict=False)
    padded = text.str.pad_start(8, ".")
    bits = pl.lit(0, pl.Int64)
    for i in range(8):
        bits = bits + pl.when(padded.str.slice(7 - i, 1) != ".").then(1 << i).otherwise(0)
    is_letters = text.str.contains(r"^[.A-Za-z]{1,8}$")
    return pl.when(as_number.is_not_null()).then(as_number).when(is_letters).then(bits)
