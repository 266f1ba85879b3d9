"""Schedules: the nightly run of yesterday's partition through every daily layer, and the
hourly observation of the pipeline's inputs."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

from assets.core.partitions import DAILY
from workflows.jobs import DAILY_PIPELINE_JOB, OBSERVE_INPUTS_JOB

NIGHTLY_SCHEDULE = "daily_pipeline_nightly"
# 02:00 UTC: yesterday's folder is closed and the first hours of today's folder (where records
# of yesterday arrive late, within HERMIT_LATENESS_DAYS) are in; the late-data sensor catches
# whatever lands after.
NIGHTLY_CRON = os.environ.get("HERMIT_NIGHTLY_CRON", "0 2 * * *")


def nightly_partition(tick_time: dt.datetime) -> str:
    """The partition a tick at `tick_time` materialises: the previous UTC day."""
    return (tick_time.astimezone(dt.UTC).date() - dt.timedelta(days=1)).isoformat()


@dg.schedule(
    name=NIGHTLY_SCHEDULE,
    cron_schedule=NIGHTLY_CRON,
    execution_timezone="UTC",
    job=DAILY_PIPELINE_JOB,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    tags={"hermit/trigger": "nightly"},
)
def nightly_pipeline(context: dg.ScheduleEvaluationContext):
    """Every night, materialise yesterday (UTC) through validated, categorised and reporting."""
    key = nightly_partition(context.scheduled_execution_time)
    if key < DAILY.start.date().isoformat():
        return dg.SkipReason(f"{key} is before the first partition ({DAILY.start.date()})")
    return dg.RunRequest(run_key=f"nightly-{key}", partition_key=key)


OBSERVE_SCHEDULE = "observe_inputs_hourly"
# Five minutes before the hour: the nightly run at 02:00 is built on versions observed at 01:55.
OBSERVE_CRON = os.environ.get("HERMIT_OBSERVE_CRON", "55 * * * *")

observe_inputs_hourly = dg.ScheduleDefinition(
    name=OBSERVE_SCHEDULE,
    cron_schedule=OBSERVE_CRON,
    execution_timezone="UTC",
    job=OBSERVE_INPUTS_JOB,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    tags={"hermit/trigger": "observe"},
    description="Observe the raw zone and the reference files every hour.",
)

SCHEDULES = [nightly_pipeline, observe_inputs_hourly]
