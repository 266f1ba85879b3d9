"""Validated layer: raw Zeek logs -> typed Parquet tables and their quarantine, one pair per log."""

import dagster as dg

from assets.core.keys import CODE_VERSIONS, RAW_ZEEK
from assets.core.metadata import spec_extras
from assets.core.partitions import DAILY
from assets.core.resources import LakeResource
from assets.core.vocabulary import ZEEK_TABLES
from assets.publishing import VOLUME_CHECK, LayerStep, Output, check_specs, partition_days
from assets.validated.schemas import QUARANTINE_SCHEMA, VALIDATED_SCHEMAS

GROUP = "validated"
TABLES = ZEEK_TABLES


def _validated_asset(table: str) -> dg.AssetsDefinition:
    valid_key = dg.AssetKey(["validated", table])
    quarantine_key = dg.AssetKey(["quarantine", table])

    @dg.multi_asset(
        name=f"validate_{table}",
        specs=[
            dg.AssetSpec(
                valid_key,
                group_name=GROUP,
                description=f"Typed Zeek {table} records, one row per raw record that passed "
                "validation, in the UTC day of its own timestamp.",
                deps=[RAW_ZEEK],
                kinds={"parquet", "polars"},
                code_version=CODE_VERSIONS[GROUP],
                **spec_extras(GROUP, VALIDATED_SCHEMAS[table]),
            ),
            dg.AssetSpec(
                quarantine_key,
                group_name="validated",
                description=f"Raw {table} records that could not be validated, with the reason, "
                "source file, line number and raw text.",
                deps=[RAW_ZEEK],
                kinds={"parquet"},
                code_version=CODE_VERSIONS[GROUP],
                **spec_extras("quarantine", QUARANTINE_SCHEMA),
            ),
        ],
        check_specs=[
            *check_specs(valid_key, volume=True),
            *check_specs(quarantine_key),
        ],
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=False,
        pool="hermit_lake",
    )
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource):
        from assets.rawzone import RawInputMissing, check_raw_root
        from assets.validated.day import stage_day
        from assets.validated.inputs import collect_raw_inputs, guard_published, skipped_text
        from assets.validated.volume import DayVolumes

        store = lake.get()
        lateness = lake.settings().lateness_days
        unrotated = lake.settings().unrotated_days
        step = LayerStep(
            context,
            store,
            [valid_key, quarantine_key],
            {
                valid_key: tuple(s.name for s in check_specs(valid_key, volume=True)),
                quarantine_key: (check_specs(quarantine_key)[0].name,),
            },
        )
        volumes = DayVolumes(lambda d: store.partition_rows("validated", table, d))
        check_raw_root(store)
        with step:
            for day in partition_days(context):
                inputs = collect_raw_inputs(store, table, day, lateness, unrotated)
                files = inputs.files
                # written chunk by chunk into staged partitions, audited on the same chunks
                staged = stage_day(store, table, day, files, lateness, unrotated)
                try:
                    guard_published(store, table, day, files, staged.sensors)
                except RawInputMissing as e:
                    staged.discard()
                    step.fail_day(day, str(e))
                    continue
                counts = dict(staged.counts)
                counts["raw_files"] = len(files)
                counts["skipped_files"] = len(inputs.skipped)
                counts["skipped"] = skipped_text(inputs.skipped)
                if inputs.skipped:
                    context.log.warning(f"{table} {day}: skipped {skipped_text(inputs.skipped)}")
                context.log.info(f"{table} {day}: {counts}")
                volume = volumes.finding(day, len(files), counts["valid"])
                step.add_day(
                    day,
                    [
                        Output(
                            valid_key,
                            "validated",
                            table,
                            None,
                            f"validated.{table}",
                            counts,
                            findings={VOLUME_CHECK: volume},
                            staged=staged.valid,
                            outcome=staged.valid_outcome,
                        ),
                        Output(
                            quarantine_key,
                            "quarantine",
                            table,
                            None,
                            "quarantine.records",
                            {"quarantined": counts["quarantined"]},
                            staged=staged.quarantine,
                            outcome=staged.quarantine_outcome,
                        ),
                    ],
                )
        yield from step.results()

    return _asset


VALIDATED_ASSETS = [_validated_asset(t) for t in TABLES]
