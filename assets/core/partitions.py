"""The one daily partition set that every layer shares, and the mappings between its days."""

import os
import warnings

import dagster as dg

# The first scenario (the 2017 study) starts 2017-04-01; deployments can start later.
START_DATE = os.environ.get("HERMIT_START_DATE", "2017-04-01")

DAILY = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone="UTC")

with warnings.catch_warnings():
    # `allow_nonexistent_upstream_partitions` is beta in Dagster 1.13 (pinned); without it the
    # first partition, which has no day before it, could never run. Silenced here, once, so the
    # warning does not print on every command.
    warnings.simplefilter("ignore", dg.BetaWarning)
    PREVIOUS_DAY = dg.TimeWindowPartitionMapping(
        start_offset=-1, end_offset=0, allow_nonexistent_upstream_partitions=True
    )
"""Day D and the day before it: passive DNS needs the answers a client received before
midnight for connections after it."""
