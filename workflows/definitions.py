"""hermit's Dagster definitions: what `dg` autoloads from workflows/defs/ (assets, checks, the
job, schedules, sensors), with the resources and the executor. `dg dev` / `dagster dev` load
this module."""

from pathlib import Path

import dagster as dg

from assets.core.resources import LakeResource
from assets.reference.resource import ReferenceResource
from workflows.instance import executor_from_env

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def build_definitions(
    lake: LakeResource | None = None, reference: ReferenceResource | None = None
) -> dg.Definitions:
    """The Definitions object (also used by tests and the `hermit` command, which may point
    the lake elsewhere)."""
    return dg.Definitions.merge(
        dg.load_from_defs_folder(project_root=PROJECT_ROOT),
        dg.Definitions(
            executor=executor_from_env(),
            resources={
                "lake": lake or LakeResource(),
                "reference": reference or ReferenceResource(),
            },
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
