"""Period figures: the daily reporting tables of a date range -> the figures of the report.

Everything is recomputed from the daily counts and sums, so a period figure equals what the
sessions of the whole period would give (distinct clients excepted: those are per day, and
shown as daily means or client-days). "Users' activity" means outbound sessions: what the
monitored networks' users do on the internet; inbound sessions appear in the country and
suspect figures.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from assets.reporting.suspect import gap_stats
from assets.reporting.tables import REPORTING_SCHEMAS, REPORTING_TABLES

FIGURES = (
    "headline",
    "category_shares",
    "service_ranking",
    "hourly_profile",
    "weekday_profile",
    "country_shares",
    "daily_trend",
    "suspect",
    "questions",
    "estimates",
)
USER_DIRECTION = "outbound"
# Categories that are not "social and web services" for the service ranking: media and games,
# plumbing and background traffic (OS updates are machines talking, not users browsing).
NON_WEB_CATEGORIES = (
    "streaming",
    "gaming",
    "infrastructure",
    "software_updates",
    "p2p",
    "crypto",
    "obfuscation",
    "adult",
    "unknown",
)
RANKING_LENGTH = 8
# Display order of suspect findings: intrusions and implants before flagged service use.
SUSPECT_ORDER = ("scanning", "beaconing", "obfuscation", "crypto")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _table(tables: dict[str, pl.DataFrame], name: str) -> pl.DataFrame:
    """The period's rows of a reporting table, typed; an empty frame when it is missing."""
    schema = {**REPORTING_SCHEMAS[name], "date": pl.Date}
    df = tables.get(name)
    if df is None or df.width == 0:
        return pl.DataFrame(schema=schema)
    return df.select(pl.col(c).cast(t) for c, t in schema.items())


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num / den).otherwise(None).cast(pl.Float64)


def _share_of_total(col: str, over: str | None = None) -> pl.Expr:
    total = pl.col(col).sum() if over is None else pl.col(col).sum().over(over)
    return _ratio(pl.col(col), total)


def category_shares(activity: pl.DataFrame) -> pl.DataFrame:
    """Users' activity per category: sessions, bytes, client_days, session and byte shares."""
    return (
        activity.filter(pl.col("direction") == USER_DIRECTION)
        .group_by("category")
        .agg(
            pl.col("sessions").sum(),
            pl.col("bytes").sum(),
            pl.col("duration_s").sum(),
            pl.col("clients").sum().alias("client_days"),
        )
        .with_columns(
            _share_of_total("sessions").alias("session_share"),
            _share_of_total("bytes").alias("byte_share"),
        )
        .sort(["sessions", "category"], descending=[True, False])
    )


def service_ranking(services: pl.DataFrame) -> pl.DataFrame:
    """Users' services ranked by sessions (bytes, then name break ties); `social_web` marks
    the services outside NON_WEB_CATEGORIES and `social_web_rank` ranks those alone."""
    ranked = (
        services.filter(pl.col("direction") == USER_DIRECTION)
        .group_by("service", "category")
        .agg(
            pl.col("sessions").sum(),
            pl.col("bytes").sum(),
            pl.col("clients").sum().alias("client_days"),
            pl.col("date").n_unique().cast(pl.Int64).alias("days_active"),
            pl.col("date").min().alias("first_date"),
            pl.col("date").max().alias("last_date"),
        )
        .sort(["sessions", "bytes", "service"], descending=[True, True, False])
        .with_columns(
            pl.int_range(1, pl.len() + 1).cast(pl.Int32).alias("rank"),
            _share_of_total("sessions").alias("session_share"),
            (
                ~pl.col("category").is_in(NON_WEB_CATEGORIES) & (pl.col("service") != "Unknown")
            ).alias("social_web"),
        )
    )
    web_rank = pl.int_range(1, pl.len() + 1).over("social_web").cast(pl.Int32)
    return ranked.with_columns(
        pl.when(pl.col("social_web")).then(web_rank).alias("social_web_rank")
    ).select(
        "rank",
        "service",
        "category",
        "sessions",
        "bytes",
        "session_share",
        "client_days",
        "days_active",
        "first_date",
        "last_date",
        "social_web",
        "social_web_rank",
    )


def hourly_profile(hourly: pl.DataFrame) -> pl.DataFrame:
    """Users' sessions per local hour and category; session_share is of the whole period,
    hour_share of the hour's own total. All 24 hours are present: an hour without sessions is
    one row with a null category and zero sessions."""
    grid = pl.DataFrame({"local_hour": pl.int_range(0, 24, eager=True).cast(pl.Int8)})
    by_cat = (
        hourly.filter(pl.col("direction") == USER_DIRECTION)
        .group_by("local_hour", "category")
        .agg(pl.col("sessions").sum(), pl.col("bytes").sum())
    )
    return (
        grid.join(by_cat, on="local_hour", how="left")
        .with_columns(
            pl.col("sessions").fill_null(0),
            pl.col("bytes").fill_null(0),
            pl.format(
                "{}:00-{}:00",
                pl.col("local_hour").cast(pl.String).str.zfill(2),
                ((pl.col("local_hour").cast(pl.Int32) + 1) % 24).cast(pl.String).str.zfill(2),
            ).alias("label"),
        )
        .with_columns(
            _share_of_total("sessions").alias("session_share"),
            _share_of_total("sessions", "local_hour").alias("hour_share"),
        )
        .sort("local_hour", "category")
    )


def weekday_profile(weekday: pl.DataFrame) -> pl.DataFrame:
    """Users' sessions per local ISO weekday, with the number of local days seen and the mean
    sessions per such day (days at the period's edges are partial local days)."""
    grid = pl.DataFrame(
        {
            "local_weekday": pl.int_range(1, 8, eager=True).cast(pl.Int8),
            "weekday": list(WEEKDAYS),
        }
    )
    by_day = (
        weekday.filter(pl.col("direction") == USER_DIRECTION)
        .group_by("local_weekday")
        .agg(
            pl.col("sessions").sum(),
            pl.col("bytes").sum(),
            pl.col("local_date").n_unique().cast(pl.Int64).alias("local_days"),
        )
    )
    return (
        grid.join(by_day, on="local_weekday", how="left")
        .with_columns(pl.col("sessions", "bytes", "local_days").fill_null(0))
        .with_columns(
            _ratio(pl.col("sessions"), pl.col("local_days")).alias("sessions_per_day"),
            _share_of_total("sessions").alias("session_share"),
        )
        .sort("local_weekday")
    )


def country_shares(countries: pl.DataFrame, home_country: str | None) -> pl.DataFrame:
    """Outbound destinations and inbound sources by country. session_share is within the
    direction; foreign_share is within the direction's foreign sessions (known country other
    than `home_country`), null for the home country and unknown ones."""
    foreign = pl.col("remote_country").is_not_null()
    if home_country:
        foreign = foreign & (pl.col("remote_country") != home_country)
    return (
        countries.group_by("direction", "remote_country")
        .agg(pl.col("sessions").sum(), pl.col("bytes").sum())
        .with_columns(foreign.alias("foreign"))
        .with_columns(
            _share_of_total("sessions", "direction").alias("session_share"),
            pl.when(pl.col("foreign"))
            .then(
                _ratio(
                    pl.col("sessions"),
                    pl.col("sessions").filter(pl.col("foreign")).sum().over("direction"),
                )
            )
            .alias("foreign_share"),
        )
        .sort(
            ["direction", "sessions", "remote_country"],
            descending=[False, True, False],
            nulls_last=True,
        )
    )


def daily_trend(summary: pl.DataFrame, activity: pl.DataFrame, suspect: pl.DataFrame):
    """One row per day: totals, active clients, unknown, streaming+gaming, flagged use."""
    users = activity.filter(pl.col("direction") == USER_DIRECTION)
    cat = pl.col("category")
    per_day = users.group_by("date").agg(
        pl.col("sessions").filter(cat.is_in(["streaming", "gaming"])).sum().alias("_sg"),
        pl.col("sessions").filter(cat == "obfuscation").sum().alias("obfuscation_sessions"),
        pl.col("sessions").filter(cat == "crypto").sum().alias("crypto_sessions"),
    )
    findings = suspect.group_by("date").agg(
        (pl.col("kind") == "scanning").sum().cast(pl.Int64).alias("scanning_sources"),
        (pl.col("kind") == "beaconing").sum().cast(pl.Int64).alias("beacons"),
    )
    return (
        summary.select(
            "date",
            "sessions",
            "bytes",
            "outbound_sessions",
            "inbound_sessions",
            "active_clients",
            "unknown_share",
        )
        .join(per_day, on="date", how="left")
        .join(findings, on="date", how="left")
        .with_columns(
            pl.col(
                "obfuscation_sessions", "crypto_sessions", "scanning_sources", "beacons", "_sg"
            ).fill_null(0)
        )
        .with_columns(
            _ratio(pl.col("_sg"), pl.col("outbound_sessions")).alias("streaming_gaming_share")
        )
        .drop("_sg")
        .sort("date")
    )


def suspect_table(suspect: pl.DataFrame) -> pl.DataFrame:
    """Suspect findings over the period, one row per finding key: days seen, totals, failed
    share, the largest daily fan-out, and for beacons the CV pooled over all days' gaps."""
    key = ["kind", "direction", "local_ip", "remote_ip", "resp_p", "service", "remote_country"]
    kind_order = pl.DataFrame(
        {"kind": list(SUSPECT_ORDER), "_order": list(range(len(SUSPECT_ORDER)))}
    )
    return (
        suspect.group_by(key)
        .agg(
            pl.col("category").drop_nulls().first(),
            pl.col("date").n_unique().cast(pl.Int64).alias("days"),
            pl.col("date").min().alias("first_date"),
            pl.col("date").max().alias("last_date"),
            pl.col("sessions").sum(),
            pl.col("bytes").sum(),
            pl.col("failed_sessions").sum(),
            pl.col("local_ips").max().alias("max_local_ips"),
            pl.col("ports").max().alias("max_ports"),
            pl.col("remotes").max().alias("max_remotes"),
            pl.col("gaps").sum(),
            pl.col("gap_sum_s").sum(),
            pl.col("gap_sumsq_s").sum(),
            pl.col("first_ts").min(),
            pl.col("last_ts").max(),
        )
        .with_columns(
            _ratio(pl.col("failed_sessions"), pl.col("sessions")).alias("failed_share"),
            *gap_stats(pl.col("gaps"), pl.col("gap_sum_s"), pl.col("gap_sumsq_s")),
        )
        .with_columns(
            pl.when(pl.col("kind") == "beaconing").then(pl.col(c)).alias(c)
            for c in ("gap_mean_s", "gap_cv")
        )
        .drop("gaps", "gap_sum_s", "gap_sumsq_s", "failed_sessions")
        .join(kind_order, on="kind", how="left")
        .sort(
            ["_order", "sessions", "local_ip", "remote_ip", "service"],
            descending=[False, True, False, False, False],
            nulls_last=True,
        )
        .drop("_order")
    )


def headline(
    figs: dict[str, pl.DataFrame],
    services: pl.DataFrame,
    summary: pl.DataFrame,
    questions: tuple = (),
):
    """The report's key numbers in one row (what the scenario's ground truth is checked on)."""
    cats = figs["category_shares"]
    total = cats["sessions"].sum()

    def cat_share(*names: str) -> float | None:
        n = cats.filter(pl.col("category").is_in(names))["sessions"].sum()
        return n / total if total else None

    hours = (
        figs["hourly_profile"]
        .group_by("local_hour", "label")
        .agg(pl.col("sessions").sum())
        .sort(["sessions", "local_hour"], descending=[True, False])
    )
    busiest = hours.row(0, named=True) if total else {"local_hour": None, "label": None}
    ranking = figs["service_ranking"]
    web = ranking.filter(pl.col("social_web")).sort("social_web_rank").head(RANKING_LENGTH)
    inbound = (
        figs["country_shares"]
        .filter((pl.col("direction") == "inbound") & pl.col("foreign"))
        .sort(["sessions", "remote_country"], descending=[True, False])
    )
    top_inbound = inbound.row(0, named=True) if inbound.height else {}

    def first_date(cond: pl.Expr) -> dt.date | None:
        return services.filter(cond & (pl.col("sessions") > 0))["date"].min()

    suspect = figs["suspect"]
    days = summary["date"].n_unique()
    return pl.DataFrame(
        {
            "start_date": [summary["date"].min()],
            "end_date": [summary["date"].max()],
            "days": [days],
            "sessions": [int(summary["sessions"].sum())],
            "bytes": [int(summary["bytes"].sum())],
            "outbound_sessions": [int(summary["outbound_sessions"].sum())],
            "inbound_sessions": [int(summary["inbound_sessions"].sum())],
            "active_clients_mean": [summary["active_clients"].mean()],
            "active_clients_max": [summary["active_clients"].max()],
            "streaming_gaming_share": [cat_share("streaming", "gaming")],
            "obfuscation_share": [cat_share("obfuscation")],
            "crypto_share": [cat_share("crypto")],
            "unknown_share": [cat_share("unknown")],
            "busiest_local_hour": [busiest["local_hour"]],
            "busiest_local_hour_label": [busiest["label"]],
            "top_service": [ranking["service"][0] if ranking.height else None],
            "social_web_ranking": [", ".join(web["service"].to_list())],
            "inbound_foreign_top_country": [top_inbound.get("remote_country")],
            "inbound_foreign_top_share": [top_inbound.get("foreign_share")],
            "first_crypto_date": [first_date(pl.col("category") == "crypto")],
            "obfuscation_clients": [
                suspect.filter(pl.col("kind") == "obfuscation")["local_ip"].n_unique()
            ],
            "scanning_sources": [
                suspect.filter(pl.col("kind") == "scanning")["remote_ip"].n_unique()
            ],
            "beacons": [suspect.filter(pl.col("kind") == "beaconing").height],
            **{q.name: [answer(q, figs, first_date)] for q in questions},
        },
        schema_overrides={
            "start_date": pl.Date,
            "end_date": pl.Date,
            "days": pl.Int64,
            "active_clients_mean": pl.Float64,
            "active_clients_max": pl.Int64,
            "streaming_gaming_share": pl.Float64,
            "obfuscation_share": pl.Float64,
            "crypto_share": pl.Float64,
            "unknown_share": pl.Float64,
            "busiest_local_hour": pl.Int8,
            "busiest_local_hour_label": pl.String,
            "top_service": pl.String,
            "inbound_foreign_top_country": pl.String,
            "inbound_foreign_top_share": pl.Float64,
            "first_crypto_date": pl.Date,
            "obfuscation_clients": pl.Int64,
            "scanning_sources": pl.Int64,
            "beacons": pl.Int64,
            **{q.name: pl.Float64 if q.is_share else pl.Date for q in questions},
        },
    )


def answer(question, figs: dict[str, pl.DataFrame], first_date):
    """The period's answer to one declared question (assets/reference/questions.py)."""
    if question.is_share:
        direction = "inbound" if question.kind == "inbound_country_share" else "outbound"
        foreign = figs["country_shares"].filter(
            (pl.col("direction") == direction) & pl.col("foreign")
        )
        share = foreign.filter(pl.col("remote_country") == question.target)["foreign_share"]
        return share[0] if share.len() else (0.0 if foreign.height else None)
    if question.kind == "first_service_day":
        return first_date(pl.col("service").str.to_lowercase() == question.target.lower())
    return first_date(pl.col("category") == question.target)


def questions_figure(head: pl.DataFrame, questions: tuple) -> pl.DataFrame:
    """One row per declared question with its answer as text (what the report's cards show)."""
    row = head.row(0, named=True) if head.height else {}
    rows = []
    for q in questions:
        value = row.get(q.name)
        if value is None:
            text = "n/a"
        elif q.is_share:
            text = f"{value:.1%}"
        else:
            text = value.isoformat() if hasattr(value, "isoformat") else str(value)
        rows.append((q.name, q.label, q.kind, q.target, text))
    schema = {
        "name": pl.String,
        "label": pl.String,
        "kind": pl.String,
        "target": pl.String,
        "answer": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def home_country_for_timezone(timezone: str) -> str | None:
    """ISO 3166 alpha-2 country of an IANA zone (from the zone database's zone.tab), e.g.
    Asia/Pyongyang -> KP; None when the zone is not a country's canonical zone."""
    from importlib import resources

    try:
        text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text()
    except (ModuleNotFoundError, FileNotFoundError):
        return None
    for line in text.splitlines():
        fields = line.split("\t")
        if not line.startswith("#") and len(fields) >= 3 and fields[2] == timezone:
            return fields[0]
    return None


def estimates(t: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Per reporting table: whether the period's figures from it are estimates from sampled
    flows, the highest sampling rate (1 in N) behind them, and on how many of the days."""
    rows = []
    for name in REPORTING_TABLES:
        df = t[name]
        hit = df.filter(pl.col("estimated").fill_null(False))
        rows.append(
            {
                "table": name,
                "estimated": hit.height > 0,
                "max_sampling_rate": int(df.get_column("max_sampling_rate").max() or 1),
                "estimated_days": hit.get_column("date").n_unique(),
                "days": df.get_column("date").n_unique(),
            }
        )
    schema = {
        "table": pl.String,
        "estimated": pl.Boolean,
        "max_sampling_rate": pl.Int64,
        "estimated_days": pl.Int64,
        "days": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def period_figures(
    tables: dict[str, pl.DataFrame], *, home_country: str | None = None, questions: tuple = ()
) -> dict[str, pl.DataFrame]:
    """Each reporting table over the period (with a `date` column) -> the report's figures.

    `home_country` (ISO alpha-2 of the monitored networks' country, e.g.
    `home_country_for_timezone("Asia/Pyongyang")` = "KP") decides what "foreign" means for
    country shares; None treats every known country as foreign. Missing or empty tables give
    empty figures. Output keys: FIGURES.
    """
    t = {name: _table(tables, name) for name in REPORTING_TABLES}
    figs = {
        "category_shares": category_shares(t["activity_by_category"]),
        "service_ranking": service_ranking(t["top_services"]),
        "hourly_profile": hourly_profile(t["hourly_activity"]),
        "weekday_profile": weekday_profile(t["weekday_activity"]),
        "country_shares": country_shares(t["country_activity"], home_country),
        "daily_trend": daily_trend(
            t["daily_summary"], t["activity_by_category"], t["suspect_activity"]
        ),
        "suspect": suspect_table(t["suspect_activity"]),
    }
    figs["headline"] = headline(figs, t["top_services"], t["daily_summary"], questions)
    figs["questions"] = questions_figure(figs["headline"], questions)
    figs["estimates"] = estimates(t)
    return {name: figs[name] for name in FIGURES}
