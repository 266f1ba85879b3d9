"""Quarantine cases: extra, broken lines planted beside the good records.

Injected lines are additions, so the good records (and the planted ground truth) stay as
generated; each injected line is meant to land in quarantine under exactly one reason.
A data record becomes the source of an injected line with probability `rate`; the reason
is drawn uniformly among those that apply to the log. Corrupted copies get a fresh uid so
only the `duplicate` case repeats a key. `truncated_line` is decided per file (probability
`rate`): the file ends in half a line, with no newline and no `#close`.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from assets.simulate.sessions import DAY_US, make_uids
from assets.simulate.zeek_writer import FIELDS

LINE_REASONS = (
    "parse_error", "type_error", "bad_ip", "negative_count", "late", "future", "duplicate",
)  # fmt: skip
REASONS = (*LINE_REASONS, "truncated_line")
LATE_DAYS = 4  # older than any sensible lateness window
FUTURE_DAYS = 2
NEGATIVE_FIELD = {"conn": "orig_bytes", "dns": "trans_id", "http": "response_body_len"}


def reasons_for(log: str) -> tuple[str, ...]:
    return tuple(r for r in LINE_REASONS if r != "negative_count" or log in NEGATIVE_FIELD)


def _field(line: pl.Series, fmt: str, log: str, name: str, value: pl.Series) -> pl.Series:
    """`line` with field `name` replaced by the already formatted `value`."""
    if fmt == "tsv":
        k = [n for n, _ in FIELDS[log]].index(name)
        pat = rf"^((?:[^\t]*\t){{{k}}})([^\t]*)(.*)$"
    else:
        pat = rf'^(.*?"{re.escape(name)}":)("[^"]*"|\[[^\]]*\]|[^,}}]*)(.*)$'
    g = pl.DataFrame({"g": line.str.extract_groups(pat), "v": value})
    return g.select(
        pl.concat_str([pl.col("g").struct[0], pl.col("v"), pl.col("g").struct[2]])
    ).to_series()


def _quote(s: pl.Series, fmt: str) -> pl.Series:
    return s if fmt == "tsv" else '"' + s + '"'


def inject_lines(
    rng, lines: pl.Series, ts: np.ndarray, log: str, fmt: str, rate: float, uid_base: int
) -> tuple[pl.Series, np.ndarray, list[str]]:
    """Broken lines for some of `lines`: (new lines, index of the record each goes before,
    reason of each)."""
    n = len(lines)
    if rate <= 0 or n == 0:
        return pl.Series("line", [], pl.String), np.empty(0, np.int64), []
    src = np.flatnonzero(rng.random(n) < rate)
    options = reasons_for(log)
    reason = np.array(options)[rng.integers(0, len(options), len(src))]
    out = lines.gather(src)
    k = len(src)
    fresh = make_uids(rng, np.uint64(uid_base) + np.arange(k, dtype=np.uint64))
    keep_uid = reason == "duplicate"
    out = pl.select(
        pl.when(pl.Series(keep_uid))
        .then(out)
        .otherwise(_field(out, fmt, log, "uid", _quote(fresh, fmt)))
    ).to_series()

    def fix(mask: np.ndarray, name: str, value: pl.Series) -> None:
        nonlocal out
        if mask.any():
            changed = _field(out, fmt, log, name, value)
            out = pl.select(pl.when(pl.Series(mask)).then(changed).otherwise(out)).to_series()

    fix(reason == "type_error", "id.orig_p", _quote(pl.Series(np.full(k, "6x553")), fmt))
    fix(reason == "bad_ip", "id.resp_h", _quote(pl.Series(np.full(k, "300.1.2.3")), fmt))
    if log in NEGATIVE_FIELD:
        fix(reason == "negative_count", NEGATIVE_FIELD[log], pl.Series(np.full(k, "-100")))
    src_ts = ts[src]
    for why, shift in (("late", -LATE_DAYS * DAY_US), ("future", FUTURE_DAYS * DAY_US)):
        t = src_ts + shift
        txt = (
            pl.Series(t // 1_000_000).cast(pl.String)
            + "."
            + pl.Series(t % 1_000_000).cast(pl.String).str.zfill(6)
        )
        fix(reason == why, "ts", txt)
    # TSV: more fields than the header declares; JSON: an object cut in half
    half = out.str.slice(0, out.str.len_chars() // 2)
    cut = out + "\tstray\tfields" if fmt == "tsv" else half
    out = pl.select(
        pl.when(pl.Series(reason == "parse_error")).then(cut).otherwise(out)
    ).to_series()
    return out.alias("line"), src, reason.tolist()


def truncated_tail(line: str) -> str:
    """Half of a record, as left by a writer that died mid-line."""
    return line[: max(1, len(line) // 2)]
