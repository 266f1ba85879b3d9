"""hermit's Dagster definitions: every layer's assets and checks, the jobs, schedules, sensors
and resources. `dg dev` / `dagster dev` load this module."""

import dagster as dg

from assets.categorised.assets import CATEGORISED_ASSETS
from assets.core.resources import LakeResource, ReferenceResource
from assets.flows.assets import FLOW_ASSETS
from assets.report.assets import REPORT_ASSETS
from assets.reporting.assets import REPORTING_ASSETS
from assets.validated.assets import VALIDATED_ASSETS
from workflows.instance import executor_from_env
from workflows.jobs import DAILY_PIPELINE_JOB
from workflows.schedules import SCHEDULES
from workflows.sensors import SENSORS


def build_definitions(
    lake: LakeResource | None = None, reference: ReferenceResource | None = None
) -> dg.Definitions:
    """The Definitions object (also used by tests and the `hermit` command, which may point
    the lake elsewhere)."""
    return dg.Definitions(
        assets=[
            *VALIDATED_ASSETS,
            *FLOW_ASSETS,
            *CATEGORISED_ASSETS,
            *REPORTING_ASSETS,
            *REPORT_ASSETS,
        ],
        jobs=[DAILY_PIPELINE_JOB],
        schedules=SCHEDULES,
        sensors=SENSORS,
        executor=executor_from_env(),
        resources={"lake": lake or LakeResource(), "reference": reference or ReferenceResource()},
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
