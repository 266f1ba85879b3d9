"""Jobs: the daily pipeline through every partitioned layer."""

import dagster as dg

from assets.core.keys import JOB_NAME, RAW_ZEEK, REFERENCE_KEYS

PIPELINE_GROUPS = ("validated", "categorised", "reporting")

DAILY_PIPELINE_JOB = dg.define_asset_job(
    name=JOB_NAME,
    # the inputs are observed first, so each partition records the reference versions it used
    selection=dg.AssetSelection.groups(*PIPELINE_GROUPS)
    | dg.AssetSelection.assets(RAW_ZEEK, *REFERENCE_KEYS),
    description="Raw Zeek logs to validated, categorised and reporting tables for a day "
    "(or a range, in one run).",
)
