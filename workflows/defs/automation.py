"""The daily pipeline and input-observation jobs, their schedules and the late-data sensor."""

from workflows.jobs import DAILY_PIPELINE_JOB, OBSERVE_INPUTS_JOB
from workflows.schedules import SCHEDULES
from workflows.sensors import SENSORS

__all__ = ["DAILY_PIPELINE_JOB", "OBSERVE_INPUTS_JOB", "SCHEDULES", "SENSORS"]
