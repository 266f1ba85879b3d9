"""Zeek log formatting (TSV with header block, or JSON lines) and hourly gzip files.

Frames come from `sessions`: Zeek field names as columns, times and intervals as int64
microseconds, null meaning unset. Lines are built with polars string expressions (no
per-record Python); gzip output is reproducible (mtime 0, no file name in the header).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import zlib

import polars as pl

US = 1_000_000
HOUR_US = 3600 * US

FIELDS: dict[str, list[tuple[str, str]]] = {
    "conn": [
        ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
        ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"), ("service", "string"),
        ("duration", "interval"), ("orig_bytes", "count"), ("resp_bytes", "count"),
        ("conn_state", "string"), ("local_orig", "bool"), ("local_resp", "bool"),
        ("missed_bytes", "count"), ("history", "string"), ("orig_pkts", "count"),
        ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count"),
        ("tunnel_parents", "set[string]"),
    ],
    "dns": [
        ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
        ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"), ("trans_id", "count"),
        ("rtt", "interval"), ("query", "string"), ("qclass", "count"), ("qclass_name", "string"),
        ("qtype", "count"), ("qtype_name", "string"), ("rcode", "count"),
        ("rcode_name", "string"), ("AA", "bool"), ("TC", "bool"), ("RD", "bool"), ("RA", "bool"),
        ("Z", "count"), ("answers", "vector[string]"), ("TTLs", "vector[interval]"),
        ("rejected", "bool"),
    ],
    "ssl": [
        ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
        ("id.resp_h", "addr"), ("id.resp_p", "port"), ("version", "string"),
        ("cipher", "string"), ("curve", "string"), ("server_name", "string"),
        ("resumed", "bool"), ("last_alert", "string"), ("next_protocol", "string"),
        ("established", "bool"), ("ssl_history", "string"), ("cert_chain_fps", "vector[string]"),
        ("client_cert_chain_fps", "vector[string]"), ("sni_matches_cert", "bool"),
    ],
    "http": [
        ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
        ("id.resp_h", "addr"), ("id.resp_p", "port"), ("trans_depth", "count"),
        ("method", "string"), ("host", "string"), ("uri", "string"), ("referrer", "string"),
        ("version", "string"), ("user_agent", "string"), ("origin", "string"),
        ("request_body_len", "count"), ("response_body_len", "count"),
        ("status_code", "count"), ("status_msg", "string"), ("info_code", "count"),
        ("info_msg", "string"), ("tags", "set[enum]"), ("username", "string"),
        ("password", "string"), ("proxied", "set[string]"), ("orig_fuids", "vector[string]"),
        ("orig_filenames", "vector[string]"), ("orig_mime_types", "vector[string]"),
        ("resp_fuids", "vector[string]"), ("resp_filenames", "vector[string]"),
        ("resp_mime_types", "vector[string]"),
    ],
}  # fmt: skip
LOGS = tuple(FIELDS)
NUMERIC = {"time", "interval", "count", "port", "int", "double"}


def _micros(c: pl.Expr) -> pl.Expr:
    """int64 microseconds -> Zeek's seconds with 6 decimals."""
    return pl.concat_str(
        [(c // US).cast(pl.String), pl.lit("."), (c % US).cast(pl.String).str.zfill(6)]
    )


def _tsv_value(name: str, ztype: str) -> pl.Expr:
    c = pl.col(name)
    if ztype in ("time", "interval"):
        txt = _micros(c)
    elif ztype in ("count", "port", "int"):
        txt = c.cast(pl.String)
    elif ztype == "bool":
        txt = pl.when(c).then(pl.lit("T")).otherwise(pl.lit("F"))
    elif ztype.startswith(("set[", "vector[")):
        inner = c.list.eval(_micros(pl.element())) if "interval" in ztype else c
        txt = pl.when(c.list.len() == 0).then(pl.lit("(empty)")).otherwise(inner.list.join(","))
    else:  # string, addr, enum: generated values never hold separators or escapes
        txt = pl.when(c == "").then(pl.lit("(empty)")).otherwise(c)
    return pl.when(c.is_null()).then(pl.lit("-")).otherwise(txt)


def _json_value(name: str, ztype: str) -> pl.Expr:
    c = pl.col(name)
    if ztype in ("time", "interval"):
        txt = _micros(c)
    elif ztype in ("count", "port", "int"):
        txt = c.cast(pl.String)
    elif ztype == "bool":
        txt = pl.when(c).then(pl.lit("true")).otherwise(pl.lit("false"))
    elif ztype.startswith(("set[", "vector[")):
        if "interval" in ztype:
            inner = c.list.eval(_micros(pl.element())).list.join(",")
        else:
            inner = pl.lit('"') + c.list.join('","') + pl.lit('"')
        txt = pl.concat_str(
            [pl.lit("["), pl.when(c.list.len() == 0).then(pl.lit("")).otherwise(inner), pl.lit("]")]
        )
    else:
        txt = pl.concat_str([pl.lit('"'), c, pl.lit('"')])
    # Zeek's JSON writer leaves unset fields out
    return pl.when(c.is_null()).then(None).otherwise(pl.lit(f'"{name}":') + txt)


def render_lines(df: pl.DataFrame, log: str, fmt: str) -> pl.Series:
    """One text line per record (no trailing newline)."""
    fields = FIELDS[log]
    if fmt == "tsv":
        expr = pl.concat_str([_tsv_value(n, t) for n, t in fields], separator="\t")
    elif fmt == "json":
        body = pl.concat_str(
            [_json_value(n, t) for n, t in fields], separator=",", ignore_nulls=True
        )
        expr = pl.lit("{") + body + pl.lit("}")
    else:
        raise ValueError(f"unknown format {fmt!r} (tsv or json)")
    expr = expr.alias("line")
    # by pieces: each field's text is an intermediate column, so a whole frame at once would
    # hold its every value as a string beside the lines
    pieces = [df.slice(lo, RENDER_ROWS).select(expr) for lo in range(0, df.height, RENDER_ROWS)]
    return pl.concat(pieces).to_series() if pieces else df.select(expr).to_series()


RENDER_ROWS = 65_536


def _stamp(us: int) -> str:
    return dt.datetime.fromtimestamp(us / US, dt.UTC).strftime("%Y-%m-%d-%H-%M-%S")


def header(log: str, hour_start_us: int) -> str:
    names = "\t".join(n for n, _ in FIELDS[log])
    types = "\t".join(t for _, t in FIELDS[log])
    return (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        f"#path\t{log}\n#open\t{_stamp(hour_start_us)}\n#fields\t{names}\n#types\t{types}\n"
    )


def file_bytes(log: str, fmt: str, hour_us: int, body: str, truncated: bool = False) -> bytes:
    """A whole hourly file, gzipped reproducibly. `body` holds the data lines, each ending
    in a newline; `truncated` means the writer died mid-line: no newline, no #close."""
    text = body
    if fmt == "tsv":
        text = header(log, hour_us) + body
        if not truncated:
            text += f"#close\t{_stamp(hour_us + HOUR_US)}\n"
    return gzip.compress(text.encode(), compresslevel=1, mtime=0)


# Lines rendered and compressed at once when a file is streamed: bounds the text in memory.
STREAM_LINES = 65_536


class HourFile:
    """One hourly file compressed as its lines arrive, in any number of pieces, into `sink`
    (a binary file object): the bytes of `file_bytes` (one zlib stream, mtime 0, which does
    not depend on how the input is cut) without the file's text ever held whole."""

    def __init__(self, log: str, fmt: str, hour_us: int, sink):
        self.log, self.fmt, self.hour, self.sink = log, fmt, hour_us, sink
        self.gz = zlib.compressobj(1, zlib.DEFLATED, 31)  # what gzip.compress(level 1) runs
        if fmt == "tsv":
            self._put(header(log, hour_us))

    def _put(self, text: str) -> None:
        data = self.gz.compress(text.encode())
        if data:
            self.sink.write(data)

    def add(self, lines: pl.Series) -> None:
        """`lines`, each without its newline."""
        for lo in range(0, lines.len(), STREAM_LINES):
            self._put("\n".join(lines.slice(lo, STREAM_LINES).to_list()) + "\n")

    def finish(self, tail: str = "", truncated: bool = False) -> None:
        """End with `tail`; `truncated`: the writer died mid-line (no #close)."""
        end = tail
        if self.fmt == "tsv" and not truncated:
            end += f"#close\t{_stamp(self.hour + HOUR_US)}\n"
        self._put(end)
        self.sink.write(self.gz.flush())


def stream_file_bytes(
    log: str, fmt: str, hour_us: int, lines: pl.Series, tail: str = "", truncated: bool = False
) -> bytes:
    """`file_bytes` of `lines` (each without its newline) followed by `tail`, compressed piece
    by piece."""
    sink = io.BytesIO()
    f = HourFile(log, fmt, hour_us, sink)
    f.add(lines)
    f.finish(tail, truncated)
    return sink.getvalue()


def file_name(log: str, hour_us: int) -> tuple[str, str]:
    """(folder date, file name) of the hourly file that starts at `hour_us`."""
    start = dt.datetime.fromtimestamp(hour_us / US, dt.UTC)
    end = start + dt.timedelta(hours=1)
    stop = "00:00:00" if end.hour == 0 else end.strftime("%H:%M:%S")
    # Zeek names the last hour 23:00:00-00:00:00
    return start.date().isoformat(), f"{log}.{start:%H:%M:%S}-{stop}.log.gz"
