"""Jobs: the daily pipeline through every partitioned layer, and the observation of its inputs."""

import dagster as dg

from assets.core.keys import JOB_NAME, RAW_FLOWS, RAW_ZEEK, REFERENCE_KEYS

PIPELINE_GROUPS = ("validated", "flows", "categorised", "reporting")
OBSERVE_JOB_NAME = "observe_inputs"

DAILY_PIPELINE_JOB = dg.define_asset_job(
    name=JOB_NAME,
    # only the partitioned layers, so `dg launch --partition-range` runs the range in one run
    selection=dg.AssetSelection.groups(*PIPELINE_GROUPS),
    description="Raw Zeek logs and flow records to validated, categorised and reporting tables "
    "for a day (or a range, in one run).",
)

OBSERVE_INPUTS_JOB = dg.define_asset_job(
    name=OBSERVE_JOB_NAME,
    selection=dg.AssetSelection.assets(RAW_ZEEK, RAW_FLOWS, *REFERENCE_KEYS),
    description="Observe the raw zone (files and bytes per day) and the reference files (their "
    "content hash): a changed taxonomy then shows the partitions built on the old one stale.",
)
