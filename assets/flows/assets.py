"""Validated flows: raw flow telemetry -> the typed `flows` table and its quarantine."""

import dagster as dg

from assets.core.keys import CODE_VERSIONS, RAW_FLOWS
from assets.core.metadata import spec_extras
from assets.core.partitions import DAILY
from assets.core.resources import LakeResource
from assets.flows.schema import FLOWS_SCHEMA, QUARANTINE_SCHEMA
from assets.publishing import VOLUME_CHECK, LayerStep, Output, check_specs, partition_days

GROUP = "flows"  # in the daily job: categorised sessions read validated/flows
VALID_KEY = dg.AssetKey(["validated", "flows"])
QUARANTINE_KEY = dg.AssetKey(["quarantine", "flows"])


@dg.multi_asset(
    name="validated_flows",
    specs=[
        dg.AssetSpec(
            VALID_KEY,
            group_name=GROUP,
            description="Typed flow records (nfcapd, nfdump exports, goflow2 JSON, IPFIX, "
            "NetFlow packets), one row per raw record that passed validation, in the UTC day "
            "of its start.",
            deps=[RAW_FLOWS],
            kinds={"parquet", "polars"},
            code_version=CODE_VERSIONS["flows"],
            **spec_extras("validated", FLOWS_SCHEMA),
        ),
        dg.AssetSpec(
            QUARANTINE_KEY,
            group_name=GROUP,
            description="Raw flow records, packets and files that could not be validated, with "
            "the reason, source file, record number and raw text.",
            deps=[RAW_FLOWS],
            kinds={"parquet"},
            code_version=CODE_VERSIONS["flows"],
            **spec_extras("quarantine", QUARANTINE_SCHEMA),
        ),
    ],
    check_specs=[*check_specs(VALID_KEY, volume=True), *check_specs(QUARANTINE_KEY)],
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=False,
    pool="hermit_lake",
)
def validated_flows(context: dg.AssetExecutionContext, lake: LakeResource):
    from assets.flows.day import stage_flows
    from assets.flows.raw import collect_flow_files
    from assets.validated.volume import DayVolumes

    store = lake.get()
    lateness = lake.settings().lateness_days
    step = LayerStep(
        context,
        store,
        [VALID_KEY, QUARANTINE_KEY],
        {
            VALID_KEY: tuple(s.name for s in check_specs(VALID_KEY, volume=True)),
            QUARANTINE_KEY: (check_specs(QUARANTINE_KEY)[0].name,),
        },
    )
    volumes = DayVolumes(lambda d: store.partition_rows("validated", "flows", d))
    with step:
        for day in partition_days(context):
            files = collect_flow_files(store, day, lateness)
            # written chunk by chunk into staged partitions, audited on the same chunks
            staged = stage_flows(store, day, files, lateness)
            counts = dict(staged.counts)
            counts["raw_files"] = len(files)
            context.log.info(f"flows {day}: {counts}")
            volume = volumes.finding(day, len(files), counts["valid"])
            step.add_day(
                day,
                [
                    Output(
                        VALID_KEY,
                        "validated",
                        "flows",
                        None,
                        "validated.flows",
                        counts,
                        findings={VOLUME_CHECK: volume},
                        staged=staged.valid,
                        outcome=staged.valid_outcome,
                    ),
                    Output(
                        QUARANTINE_KEY,
                        "quarantine",
                        "flows",
                        None,
                        "quarantine.flows",
                        {"quarantined": counts["quarantined"]},
                        staged=staged.quarantine,
                        outcome=staged.quarantine_outcome,
                    ),
                ],
            )
    yield from step.results()


FLOW_ASSETS = [validated_flows]
