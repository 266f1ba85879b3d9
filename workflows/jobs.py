"""Jobs: the daily pipeline through every partitioned layer."""

import dagster as dg

PIPELINE_GROUPS = ("validated", "categorised", "reporting")

DAILY_PIPELINE_JOB = dg.define_asset_job(
    name="daily_pipeline",
    selection=dg.AssetSelection.groups(*PIPELINE_GROUPS),
    description="Raw Zeek logs to validated, categorised and reporting tables for a day "
    "(or a range, in one run).",
)
