"""The daily pipeline job, the nightly schedule and the late-data sensor."""

from workflows.jobs import DAILY_PIPELINE_JOB
from workflows.schedules import SCHEDULES
from workflows.sensors import SENSORS

__all__ = ["DAILY_PIPELINE_JOB", "SCHEDULES", "SENSORS"]
