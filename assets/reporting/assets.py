"""Reporting layer: small daily aggregates of the categorised sessions, read directly by BI
tools (Hive-partitioned Parquet)."""

import datetime as dt

import dagster as dg

from assets.core.keys import CODE_VERSIONS, REFERENCE_KEYS
from assets.core.metadata import spec_extras
from assets.core.partitions import DAILY
from assets.core.resources import LakeResource
from assets.publishing import LayerStep, Output, check_specs, partition_days
from assets.reporting.tables import REPORTING_SCHEMAS

GROUP = "reporting"
TABLE_DESCRIPTIONS = {
    "activity_by_category": "Sessions, bytes, active clients and shares per category and day.",
    "top_services": "Services ranked by sessions, overall and within each category.",
    "hourly_activity": "Sessions per local hour (the monitored network's zone) and category.",
    "weekday_activity": "Sessions per local weekday and category.",
    "country_activity": "Outbound destinations and inbound sources by country.",
    "suspect_activity": "Obfuscation, crypto, scanning/probing of the monitored networks and "
    "periodic beaconing.",
    "daily_summary": "Totals for the day: sessions, bytes, clients, unknown share.",
}
KEYS = {t: dg.AssetKey(["reporting", t]) for t in TABLE_DESCRIPTIONS}
# The nightly schedule refreshes the tables once a day; a day and two hours without a new
# materialisation means a night was missed (a warning after 25 hours).
FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(hours=26), warn_window=dt.timedelta(hours=25)
)


@dg.multi_asset(
    name="build_reporting_tables",
    specs=[
        dg.AssetSpec(
            key,
            group_name=GROUP,
            description=TABLE_DESCRIPTIONS[t],
            # the reference data name the categories and networks these tables are keyed by
            deps=[dg.AssetKey(["categorised", "sessions"]), *REFERENCE_KEYS],
            kinds={"parquet"},
            code_version=CODE_VERSIONS[GROUP],
            freshness_policy=FRESHNESS,
            **spec_extras(GROUP, REPORTING_SCHEMAS[t]),
        )
        for t, key in KEYS.items()
    ],
    check_specs=[spec for key in KEYS.values() for spec in check_specs(key)],
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=False,
    pool="hermit_lake",
)
def build_reporting_tables(context: dg.AssetExecutionContext, lake: LakeResource):
    from assets.reporting.tables import build_reporting_tables as build

    store = lake.get()
    step = LayerStep(
        context,
        store,
        list(KEYS.values()),
        {k: tuple(s.name for s in check_specs(k)) for k in KEYS.values()},
    )
    with step:
        for day in partition_days(context):
            with store.scan_partition("categorised", "sessions", day) as sessions:
                if sessions is None:
                    step.skip_day(day, f"categorised/sessions has no partition {day}")
                    continue
                tables = build(sessions, day=day)  # reads only the columns the tables use
            step.add_day(
                day, [Output(KEYS[t], "reporting", t, tables[t], f"reporting.{t}") for t in KEYS]
            )
    yield from step.results()


REPORTING_ASSETS = [build_reporting_tables]
