"""The period report: one self-contained HTML page (plotly.js inlined once, no network needed
to view it), plus the figures written beside it as Parquet and CSV."""

from __future__ import annotations

import datetime as dt
import html
import io
from pathlib import Path

import plotly.graph_objects as go
import polars as pl

from assets.report.figures import FIGURES
from assets.reporting.tables import REPORTING_TABLES

# Stable colours per category, so every chart and every report agrees.
CATEGORY_COLOURS = {
    "streaming": "#e4572e",
    "gaming": "#f3a712",
    "social": "#3b5998",
    "search": "#29a0b1",
    "ecommerce": "#8e44ad",
    "email": "#16a085",
    "news": "#7f8c8d",
    "messaging": "#2ecc71",
    "cloud": "#5dade2",
    "software_updates": "#a3a847",
    "p2p": "#c0392b",
    "crypto": "#d4ac0d",
    "obfuscation": "#1b2631",
    "adult": "#ff6f91",
    "infrastructure": "#95a5a6",
    "other": "#bdc3c7",
    "unknown": "#dcdde1",
}
FALLBACK_COLOURS = ("#6c5ce7", "#00b894", "#fd79a8", "#e17055", "#0984e3", "#b2bec3")
TOP_N = 15
SUSPECT_ROWS_PER_KIND = 15
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;background:#f5f6fa;
color:#2d3436}
header{background:#2d3436;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:24px} header p{margin:4px 0 0;color:#dfe6e9}
main{padding:16px 32px;max-width:1300px}
section{background:#fff;border-radius:6px;padding:12px 18px;margin:14px 0;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:18px;margin:4px 0 8px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:#fff;border-radius:6px;padding:10px 14px;min-width:170px;flex:1;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .v{font-size:22px;font-weight:600} .card .k{font-size:12px;color:#636e72}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.grid section{margin:0}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{border-bottom:1px solid #dfe6e9;padding:3px 6px;text-align:left}
th{background:#f1f2f6} td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{font-size:12px;color:#636e72}
.estimate{color:#b35900;font-weight:600}
"""


def _colour(category: str | None, i: int = 0) -> str:
    if category in CATEGORY_COLOURS:
        return CATEGORY_COLOURS[category]
    return FALLBACK_COLOURS[i % len(FALLBACK_COLOURS)]


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def _num(x) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:,.2f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def _category_chart(cats: pl.DataFrame) -> go.Figure:
    total = max(int(cats["sessions"].sum() or 0), 1)
    fig = go.Figure(
        go.Pie(
            labels=cats["category"].to_list(),
            values=cats["sessions"].to_list(),
            hole=0.45,
            sort=False,
            marker={"colors": [_colour(c, i) for i, c in enumerate(cats["category"])]},
            # label only the slices big enough to read; the legend and hover name the rest
            text=[
                c if v >= 0.03 * total else ""
                for c, v in zip(cats["category"], cats["sessions"], strict=True)
            ],
            textinfo="text+percent",
            texttemplate=[
                "%{text}<br>%{percent}" if v >= 0.03 * total else "" for v in cats["sessions"]
            ],
            textposition="inside",
            insidetextorientation="horizontal",
        )
    )
    fig = _layout(fig, "Category shares of users' sessions")
    fig.update_layout(legend={"orientation": "v", "x": 1.02, "y": 0.5})
    return fig


def _services_chart(ranking: pl.DataFrame) -> go.Figure:
    top = ranking.head(TOP_N).reverse()
    fig = go.Figure(
        go.Bar(
            x=top["sessions"].to_list(),
            y=top["service"].to_list(),
            orientation="h",
            marker={"color": [_colour(c, i) for i, c in enumerate(top["category"])]},
            customdata=top.select("category", "session_share").rows(),
            hovertemplate="%{y}: %{x:,} sessions (%{customdata[0]}, "
            "%{customdata[1]:.1%})<extra></extra>",
        )
    )
    return _layout(fig, f"Top {TOP_N} services by sessions", height=460)


def _hourly_chart(hourly: pl.DataFrame) -> go.Figure:
    fig = go.Figure()
    data = hourly.filter(pl.col("category").is_not_null())
    order = (
        data.group_by("category")
        .agg(pl.col("sessions").sum())
        .sort(["sessions", "category"], descending=[True, False])["category"]
    )
    hours = list(range(24))
    for i, cat in enumerate(order):
        rows = dict(data.filter(pl.col("category") == cat).select("local_hour", "sessions").rows())
        fig.add_bar(
            x=hours,
            y=[rows.get(h, 0) for h in hours],
            name=cat,
            marker_color=_colour(cat, i),
        )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="local hour (start)", dtick=1)
    return _layout(fig, "Users' sessions by local hour", height=420)


def _weekday_chart(weekday: pl.DataFrame) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=weekday["weekday"].to_list(),
            y=weekday["sessions_per_day"].to_list(),
            marker_color="#29a0b1",
            customdata=weekday["local_days"].to_list(),
            hovertemplate="%{x}: %{y:,.0f} sessions per day (%{customdata} days)<extra></extra>",
        )
    )
    fig.update_yaxes(title="sessions per local day")
    return _layout(fig, "Users' sessions by local weekday")


def _country_chart(countries: pl.DataFrame, direction: str, title: str) -> go.Figure:
    rows = (
        countries.filter(pl.col("direction") == direction)
        .with_columns(pl.col("remote_country").fill_null("unknown"))
        .head(TOP_N)
        .reverse()
    )
    fig = go.Figure(
        go.Bar(
            x=rows["session_share"].to_list(),
            y=rows["remote_country"].to_list(),
            orientation="h",
            marker_color=["#e4572e" if f else "#95a5a6" for f in rows["foreign"]],
            customdata=rows.select("sessions", "foreign_share").rows(),
            hovertemplate="%{y}: %{x:.1%} of sessions (%{customdata[0]:,}); "
            "%{customdata[1]:.1%} of foreign<extra></extra>",
        )
    )
    fig.update_xaxes(tickformat=".0%")
    return _layout(fig, title, height=420)


def _event_rows(events: list[dict] | None) -> list[tuple[dt.date, str]]:
    out = []
    for ev in events or []:
        day = ev.get("date") or ev.get("day") or ev.get("start")
        if isinstance(day, dt.datetime):
            day = day.date()
        if isinstance(day, str):
            day = dt.date.fromisoformat(day[:10])
        label = ev.get("label") or ev.get("name") or ev.get("event") or ev.get("description")
        if isinstance(day, dt.date):
            out.append((day, str(label or "")))
    return sorted(out)


def _trend_chart(trend: pl.DataFrame, events: list[tuple[dt.date, str]]) -> go.Figure:
    fig = go.Figure()
    days = [d.isoformat() for d in trend["date"]]
    for col, name, colour in (
        ("outbound_sessions", "outbound sessions", "#3b5998"),
        ("inbound_sessions", "inbound sessions", "#e4572e"),
    ):
        fig.add_scatter(
            x=days, y=trend[col].to_list(), name=name, mode="lines+markers", line={"color": colour}
        )
    fig.add_scatter(
        x=days,
        y=trend["active_clients"].to_list(),
        name="active clients",
        mode="lines",
        yaxis="y2",
        line={"color": "#16a085", "dash": "dot"},
    )
    for day, label in events:
        fig.add_shape(
            type="line",
            x0=day.isoformat(),
            x1=day.isoformat(),
            y0=0,
            y1=1,
            yref="paper",
            line={"color": "#636e72", "dash": "dash", "width": 1},
        )
        fig.add_annotation(
            x=day.isoformat(),
            y=1,
            yref="paper",
            text=html.escape(label),
            showarrow=False,
            textangle=-90,
            xanchor="right",
            yanchor="top",
            font={"size": 10},
        )
    fig.update_layout(
        yaxis={"title": "sessions"},
        yaxis2={"title": "active clients", "overlaying": "y", "side": "right", "showgrid": False},
    )
    # whole-day ticks: plotly otherwise adds 12:00 ticks on short periods
    fig.update_xaxes(type="date", tickformat="%Y-%m-%d", dtick=86_400_000 * max(1, len(days) // 12))
    return _layout(fig, "Daily trend (dashed lines: events)", height=420)


def _table_html(df: pl.DataFrame, columns: dict[str, str], pct: tuple[str, ...] = ()) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for label in columns.values())
    body = []
    for row in df.select(list(columns)).iter_rows(named=True):
        cells = []
        for col, value in row.items():
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            text = _pct(value) if col in pct else _num(value)
            cell = f'<td class="n">{text}</td>' if numeric else f"<td>{html.escape(text)}</td>"
            cells.append(cell)
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _suspect_section(suspect: pl.DataFrame) -> str:
    if suspect.height == 0:
        return "<p>No suspect activity in this period.</p>"
    counts = suspect.group_by("kind").agg(pl.len().alias("n"), pl.col("sessions").sum())
    summary = ", ".join(
        f"{k}: {n:,} findings ({s:,} sessions)" for k, n, s in counts.sort("kind").iter_rows()
    )
    shown = suspect.with_columns(pl.int_range(pl.len()).over("kind").alias("_i")).filter(
        pl.col("_i") < SUSPECT_ROWS_PER_KIND
    )
    table = _table_html(
        shown.with_columns(
            pl.col("first_ts").dt.strftime("%Y-%m-%d %H:%M"),
            pl.col("last_ts").dt.strftime("%Y-%m-%d %H:%M"),
        ),
        {
            "kind": "kind",
            "local_ip": "local",
            "remote_ip": "remote",
            "resp_p": "port",
            "service": "service",
            "remote_country": "country",
            "days": "days",
            "sessions": "sessions",
            "failed_share": "failed",
            "max_local_ips": "local addrs",
            "max_ports": "ports",
            "gap_mean_s": "mean gap s",
            "gap_cv": "gap CV",
            "first_ts": "first (UTC)",
            "last_ts": "last (UTC)",
        },
        pct=("failed_share",),
    )
    return (
        f'<p class="note">{html.escape(summary)}. Up to {SUSPECT_ROWS_PER_KIND} findings per '
        "kind are shown; all are in the suspect figure files.</p>" + table
    )


def _cards(head: dict, questions: pl.DataFrame | None = None) -> str:
    cards = [
        ("sessions", _num(head.get("sessions"))),
        ("streaming + gaming share", _pct(head.get("streaming_gaming_share"))),
        ("busiest local hour", head.get("busiest_local_hour_label") or "n/a"),
        ("obfuscation share", _pct(head.get("obfuscation_share"), 2)),
        ("unknown share", _pct(head.get("unknown_share"))),
        (
            "top inbound foreign country",
            f"{head.get('inbound_foreign_top_country') or 'n/a'} "
            f"({_pct(head.get('inbound_foreign_top_share'))})",
        ),
        ("active clients per day", _num(head.get("active_clients_mean"))),
        (
            "scanning sources / beacons",
            f"{_num(head.get('scanning_sources'))} / {_num(head.get('beacons'))}",
        ),
    ]
    # the networks file's own questions (assets/reference/questions.py)
    if questions is not None:
        cards += [(r["label"], r["answer"]) for r in questions.iter_rows(named=True)]
    items = "".join(
        f'<div class="card"><div class="v">{html.escape(str(v))}</div>'
        f'<div class="k">{html.escape(k)}</div></div>'
        for k, v in cards
    )
    ranking = html.escape(head.get("social_web_ranking") or "n/a")
    return f'<div class="cards">{items}</div><p>Social and web services ranking: {ranking}</p>'


def _comparison_section(comparison: dict, start: dt.date, end: dt.date) -> str:
    table = comparison.get("table")
    if not isinstance(table, pl.DataFrame):
        return ""
    other = (
        f"{comparison['start']} to {comparison['end']}"
        if comparison.get("start") and comparison.get("end")
        else "period B"
    )
    a = html.escape(str(comparison.get("label_a") or f"{start} to {end}"))
    b = html.escape(str(comparison.get("label_b") or other))
    columns = {
        "metric": "metric",
        "period_a": a,
        "period_b": b,
        "change": "change",
        "change_pct": "change %",
    }
    is_share = pl.col("metric").str.contains("share")

    def shown(col: str) -> pl.Expr:
        value = pl.col(col)
        pct = pl.format("{}%", (value * 100).round(2))
        num = value.round(2).cast(pl.String)
        return pl.when(value.is_null()).then(pl.lit("n/a")).when(is_share).then(pct).otherwise(num)

    table = table.with_columns(shown(c).alias(c) for c in ("period_a", "period_b", "change"))
    body = _table_html(table, columns, pct=("change_pct",))
    return f"<section><h2>Period comparison: {a} vs {b}</h2>{body}</section>"


def estimate_label(estimates: pl.DataFrame | None, *tables: str) -> str | None:
    """ "estimated from 1:N sampled flows" when figures drawn from ``tables`` are estimates
    (on some days only: says how many), else None."""
    if estimates is None or estimates.height == 0:
        return None
    hit = estimates.filter(pl.col("table").is_in(list(tables)) & pl.col("estimated"))
    if hit.height == 0:
        return None
    rate = int(hit.get_column("max_sampling_rate").max())
    days, of = int(hit["estimated_days"].max()), int(hit["days"].max())
    when = "" if days >= of else f" on {days} of {of} days"
    return f"estimated from 1:{rate} sampled flows{when}"


def _estimate_note(estimates: pl.DataFrame | None, *tables: str) -> str:
    label = estimate_label(estimates, *tables)
    if label is None:
        return ""
    return f'<p class="note estimate">{html.escape(label[0].upper() + label[1:])}.</p>'


def _plot_div(fig: go.Figure, name: str) -> str:
    # Fixed div ids keep the page deterministic (plotly defaults to random uuids).
    return fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=f"fig-{name}", config=PLOTLY_CONFIG
    )


def render_report(
    figures: dict[str, pl.DataFrame],
    *,
    title: str,
    start: dt.date,
    end: dt.date,
    events: list[dict] | None = None,
    comparison: dict | None = None,
) -> str:
    """The report page as one HTML string (plotly.js inlined once; no external resources).

    `events`: [{"date": date or "YYYY-MM-DD", "label": str}, ...] marked on the daily trend.
    `comparison`: {"table": compare_periods(this, other), and either "label_a"/"label_b" or the
    other period's "start"/"end"} (period A defaults to this report's period).
    """
    from plotly.offline import get_plotlyjs

    head_df = figures["headline"]
    head = head_df.row(0, named=True) if head_df.height else {}
    ev = [(d, label) for d, label in _event_rows(events) if start <= d <= end]
    charts = {
        "categories": _category_chart(figures["category_shares"]),
        "services": _services_chart(figures["service_ranking"]),
        "hourly": _hourly_chart(figures["hourly_profile"]),
        "weekday": _weekday_chart(figures["weekday_profile"]),
        "countries-out": _country_chart(
            figures["country_shares"], "outbound", "Outbound destinations by country"
        ),
        "countries-in": _country_chart(
            figures["country_shares"], "inbound", "Inbound sources by country"
        ),
        "trend": _trend_chart(figures["daily_trend"], ev),
    }
    # each chart's figures come from one reporting table; say so where they are estimates
    sources = {
        "categories": ("activity_by_category",),
        "services": ("top_services",),
        "hourly": ("hourly_activity",),
        "weekday": ("weekday_activity",),
        "countries-out": ("country_activity",),
        "countries-in": ("country_activity",),
        "trend": ("daily_summary", "activity_by_category", "suspect_activity"),
    }
    est = figures.get("estimates")
    div = {
        name: _plot_div(fig, name) + _estimate_note(est, *sources[name])
        for name, fig in charts.items()
    }
    events_list = "".join(f"<li>{d.isoformat()}: {html.escape(label)}</li>" for d, label in ev)
    sections = [
        "<section><h2>Headline</h2>"
        + _estimate_note(est, *REPORTING_TABLES)
        + f"{_cards(head, figures.get('questions'))}</section>",
        '<div class="grid">'
        f"<section>{div['categories']}</section><section>{div['services']}</section></div>",
        f"<section>{div['hourly']}</section>",
        '<div class="grid">'
        f"<section>{div['weekday']}</section><section>{div['countries-out']}</section></div>",
        '<div class="grid">'
        f"<section>{div['countries-in']}</section>"
        f"<section><h2>Category shares</h2>"
        + _estimate_note(est, "activity_by_category")
        + _table_html(
            figures["category_shares"],
            {
                "category": "category",
                "sessions": "sessions",
                "session_share": "sessions %",
                "bytes": "bytes",
                "byte_share": "bytes %",
            },
            pct=("session_share", "byte_share"),
        )
        + "</section></div>",
        f"<section>{div['trend']}"
        + (f"<ul class='note'>{events_list}</ul>" if events_list else "")
        + "</section>",
        "<section><h2>Suspect activity</h2>"
        + _estimate_note(est, "suspect_activity")
        + f"{_suspect_section(figures['suspect'])}</section>",
    ]
    if comparison:
        sections.append(_comparison_section(comparison, start, end))
    period = f"{start.isoformat()} to {end.isoformat()}"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<header><h1>{html.escape(title)}</h1><p>{period} (UTC days; hours and weekdays in "
        "the monitored networks' local time; users' activity = outbound sessions)</p></header>"
        f"<main>{''.join(sections)}</main></body></html>\n"
    )


def write_report(
    figures: dict[str, pl.DataFrame],
    out_dir: Path | str,
    name: str,
    *,
    lake=None,
    **kw,
) -> Path | str:
    """Write `<out_dir>/<name>.html` and the figures as `<out_dir>/<name>/<figure>.parquet` and
    `.csv` through fsspec (local path or s3://); `kw` goes to render_report.

    With `lake` (an assets.lake.Lake), `out_dir` is relative to the lake root (e.g. "reports")
    and the lake's own staging area is used. Returns the HTML's path (a Path when local, else
    its URL).
    """
    from assets.lake import Lake

    if lake is None:
        lake, prefix = Lake(str(out_dir)), ""
    else:
        prefix = str(out_dir).strip("/") + "/" if str(out_dir).strip("/") else ""
    lake.write_bytes(f"{prefix}{name}.html", render_report(figures, **kw).encode("utf-8"))
    for fig_name in FIGURES:
        df = figures.get(fig_name)
        if df is None:
            continue
        buf = io.BytesIO()
        df.write_parquet(buf, compression="zstd", statistics=True)
        lake.write_bytes(f"{prefix}{name}/{fig_name}.parquet", buf.getvalue())
        lake.write_bytes(f"{prefix}{name}/{fig_name}.csv", df.write_csv().encode("utf-8"))
    html_rel = f"{prefix}{name}.html"
    return Path(lake.path(html_rel)) if lake.is_local else lake.url(html_rel)
