"""The one daily partition set that every layer shares."""

import os

import dagster as dg

# The first scenario (the 2017 study) starts 2017-04-01; deployments can start later.
START_DATE = os.environ.get("HERMIT_START_DATE", "2017-04-01")

DAILY = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone="UTC")
