"""Two periods side by side: the change of every headline metric and category share."""

from __future__ import annotations

import polars as pl

# Headline columns compared (numeric ones; dates and labels are not metrics).
HEADLINE_METRICS = (
    "days",
    "sessions",
    "bytes",
    "outbound_sessions",
    "inbound_sessions",
    "active_clients_mean",
    "active_clients_max",
    "streaming_gaming_share",
    "obfuscation_share",
    "crypto_share",
    "unknown_share",
    "busiest_local_hour",
    "inbound_foreign_top_share",
    "obfuscation_clients",
    "scanning_sources",
    "beacons",
)
COMPARISON_SCHEMA = {
    "metric": pl.String,
    "period_a": pl.Float64,
    "period_b": pl.Float64,
    "change": pl.Float64,
    "change_pct": pl.Float64,
}


def _metrics(figures: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """One period's figures as long (metric, value) rows."""
    head = figures.get("headline")
    rows: list[tuple[str, float | None]] = []
    if head is not None and head.height:
        h = head.row(0, named=True)
        rows += [(m, h.get(m)) for m in HEADLINE_METRICS if m in h]
        questions = figures.get("questions")
        if questions is not None:  # declared share questions are metrics too
            share_names = questions.filter(pl.col("kind").str.ends_with("_share"))["name"]
            rows += [(f"question:{n}", h.get(n)) for n in share_names if n in h]
        days = h.get("days") or 0
        for col in ("sessions", "outbound_sessions", "inbound_sessions"):
            value = h.get(col)
            rows.append((f"{col}_per_day", value / days if days and value is not None else None))
    long = pl.DataFrame(rows, schema={"metric": pl.String, "value": pl.Float64}, orient="row")
    cats = figures.get("category_shares")
    if cats is not None and cats.height:
        long = pl.concat(
            [
                long,
                cats.select(
                    pl.format("category_share:{}", "category").alias("metric"),
                    pl.col("session_share").cast(pl.Float64).alias("value"),
                ).sort("metric"),
            ]
        )
    return long


def compare_periods(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Period A vs period B (both period_figures outputs), one row per metric.

    Columns: metric, period_a, period_b, change (b - a), change_pct (change / |a|, null when a is
    0 or missing). Headline metrics come first in HEADLINE_METRICS order, then per-day means,
    then `category_share:<category>` for every category seen in either period (a category
    absent from one period has share 0 there).
    """
    ma, mb = _metrics(a), _metrics(b)
    order = pl.concat([ma.select("metric"), mb.select("metric")]).unique(maintain_order=True)
    out = (
        order.join(ma.rename({"value": "period_a"}), on="metric", how="left")
        .join(mb.rename({"value": "period_b"}), on="metric", how="left")
        .with_columns(
            pl.when(pl.col("metric").str.starts_with("category_share:"))
            .then(pl.col(c).fill_null(0.0))
            .otherwise(pl.col(c))
            .alias(c)
            for c in ("period_a", "period_b")
        )
        .with_columns((pl.col("period_b") - pl.col("period_a")).alias("change"))
        .with_columns(
            pl.when(pl.col("period_a").abs() > 0)
            .then(pl.col("change") / pl.col("period_a").abs())
            .alias("change_pct")
        )
    )
    return out.select(pl.col(c).cast(t) for c, t in COMPARISON_SCHEMA.items())
