"""Categorised layer: every validated connection (a Zeek conn record, or the flow records of
one connection) becomes a session with hostname, service, category, country and direction."""

import datetime as dt

import dagster as dg
import polars as pl

from assets.categorised.sessions import SESSIONS_SCHEMA
from assets.categorised.unknown import UNKNOWN_DOMAINS_SCHEMA
from assets.core.keys import CODE_VERSIONS, REFERENCE_KEYS
from assets.core.metadata import spec_extras
from assets.core.partitions import DAILY, PREVIOUS_DAY
from assets.core.resources import LakeResource
from assets.lake import Lake
from assets.publishing import WARN_CHECK, LayerStep, Output, check_specs, partition_days
from assets.reference.resource import ReferenceResource

GROUP = "categorised"
SESSIONS = dg.AssetKey(["categorised", "sessions"])
UNKNOWN_DOMAINS = dg.AssetKey(["categorised", "unknown_domains"])


def read_validated(lake: Lake, table: str, days: list[dt.date]) -> pl.DataFrame:
    """The validated rows of `table` for `days`, only the columns categorisation reads; an
    empty, typed frame where none were written."""
    from assets.categorised.sessions import INPUT_COLUMNS
    from assets.validated.schemas import VALIDATED_SCHEMAS

    columns = INPUT_COLUMNS[table]
    frames = [lake.read_partition("validated", table, d, columns) for d in days]
    frames = [f for f in frames if f is not None]
    if not frames:
        schema = VALIDATED_SCHEMAS[table]
        return pl.DataFrame(schema={c: schema[c] for c in columns if c in schema})
    return pl.concat(frames, how="vertical_relaxed")


@dg.multi_asset(
    name="categorise_sessions",
    specs=[
        dg.AssetSpec(
            SESSIONS,
            group_name=GROUP,
            description="One row per connection, from Zeek conn records or merged flow records "
            "(`source`): monitored client, hostname (and where it came from), registered "
            "domain, service, category, remote AS, remote country, direction, local time.",
            deps=[
                dg.AssetDep(["validated", "conn"]),
                dg.AssetDep(["validated", "dns"], partition_mapping=PREVIOUS_DAY),
                dg.AssetDep(["validated", "ssl"]),
                dg.AssetDep(["validated", "http"]),
                dg.AssetDep(["validated", "flows"]),
                *REFERENCE_KEYS,
            ],
            kinds={"parquet", "polars"},
            code_version=CODE_VERSIONS[GROUP],
            **spec_extras(GROUP, SESSIONS_SCHEMA),
        ),
        dg.AssetSpec(
            UNKNOWN_DOMAINS,
            group_name=GROUP,
            description="The day's most frequent registered domains the taxonomy does not "
            "classify yet, so the taxonomy can grow from real traffic.",
            deps=[SESSIONS, *REFERENCE_KEYS],
            kinds={"parquet"},
            code_version=CODE_VERSIONS[GROUP],
            **spec_extras(GROUP, UNKNOWN_DOMAINS_SCHEMA),
        ),
    ],
    check_specs=[*check_specs(SESSIONS, warnings=True), *check_specs(UNKNOWN_DOMAINS)],
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=False,
    pool="hermit_lake",
)
def categorise_sessions(
    context: dg.AssetExecutionContext, lake: LakeResource, reference: ReferenceResource
):
    from assets.categorised.day import stage_day
    from assets.categorised.day_inputs import day_sources

    store = lake.get()
    ref = reference.get()
    suite_checks = {k: tuple(s.name for s in check_specs(k)) for k in (SESSIONS, UNKNOWN_DOMAINS)}
    suite_checks[SESSIONS] += (WARN_CHECK,)
    step = LayerStep(context, store, [SESSIONS, UNKNOWN_DOMAINS], suite_checks)
    with step:
        for day in partition_days(context):
            why = day_sources(store, day)[2]
            staged = None if why else stage_day(store, day, ref)
            if staged is None:
                step.skip_day(day, why or f"an input of {day} vanished while it was read")
                continue
            result = staged.result
            stats = {k: v for k, v in result.stats.items() if isinstance(v, int | float)}
            step.add_day(
                day,
                [
                    Output(
                        SESSIONS,
                        "categorised",
                        "sessions",
                        None,
                        "categorised.sessions",
                        {
                            "validated_conn": result.conn_rows,
                            **stats,
                            **result.sources,
                            "chunks": result.chunks,
                            "reference": ref.version,
                        },
                        staged=staged.writer,
                        outcome=staged.outcome,
                    ),
                    Output(
                        UNKNOWN_DOMAINS,
                        "categorised",
                        "unknown_domains",
                        result.unknown,
                        "categorised.unknown_domains",
                    ),
                ],
            )
            del staged
    yield from step.results()


CATEGORISED_ASSETS = [categorise_sessions]
