"""Whether a reporting figure is an estimate: sessions built from sampled flow records carry
counts scaled up from 1-in-N packets, so every aggregate row says if any of its sessions
were, and the highest rate among them (a period figure is an estimate if any day's row is)."""

from __future__ import annotations

import polars as pl

SAMPLING_COLUMNS: dict[str, pl.DataType] = {
    "estimated": pl.Boolean(),  # some of the row's sessions came from sampled flows
    "max_sampling_rate": pl.Int64(),  # the highest 1-in-N rate among them (1: none sampled)
}

# What a categorised partition written before sessions carried their sampling means: Zeek.
_SESSION_DEFAULTS = {"estimated": pl.lit(False), "sampling_rate": pl.lit(1, pl.Int64)}


def with_sampling(sessions: pl.LazyFrame) -> pl.LazyFrame:
    """``sessions`` with `estimated` and `sampling_rate`, filled in where a partition predates
    them."""
    have = set(sessions.collect_schema().names())
    missing = {c: e.alias(c) for c, e in _SESSION_DEFAULTS.items() if c not in have}
    return sessions.with_columns(*missing.values()) if missing else sessions


def sampling_aggs() -> list[pl.Expr]:
    """Aggregations giving SAMPLING_COLUMNS for a group of sessions."""
    return [
        pl.col("estimated").fill_null(False).any().alias("estimated"),
        pl.col("sampling_rate")
        .fill_null(1)
        .max()
        .fill_null(1)
        .cast(pl.Int64)
        .alias("max_sampling_rate"),
    ]
