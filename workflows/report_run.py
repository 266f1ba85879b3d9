"""`hermit report` and the demo's last step: materialise the period_report asset on hermit's
instance, so the report shows in the UI as an asset with its period and headline figures."""

from __future__ import annotations

import dagster as dg

from assets.core.resources import LakeResource
from assets.report.assets import REPORT


def materialize_report(
    start: str = "",
    end: str = "",
    *,
    name: str = "period_report",
    compare: tuple[str, str] | None = None,
    lake_root: str | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dict:
    """Run the period_report asset for start..end (empty: every reported day); returns its
    materialisation metadata (path, period, headline figures). Raises ValueError with the
    asset's own message when the period is invalid or the reporting layer is empty."""
    from workflows.definitions import build_definitions

    if instance is None:
        from workflows.instance import get_instance

        instance = get_instance()
    defs = build_definitions(lake=LakeResource(root=lake_root) if lake_root else None)
    config = {"start": start, "end": end, "name": name}
    if compare:
        config.update(compare_start=compare[0], compare_end=compare[1])
    result = dg.materialize(
        [*defs.assets],
        selection=[REPORT],
        resources=defs.resources,
        instance=instance,
        run_config={
            "ops": {"reports__period_report": {"config": config}},
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        },
        tags={"hermit/trigger": "report"},
        raise_on_error=False,
    )
    if not result.success:
        raise ValueError(_failure(result))
    (mat,) = result.asset_materializations_for_node("reports__period_report")
    return {k: v.value for k, v in mat.metadata.items()}


def _failure(result: dg.ExecuteInProcessResult) -> str:
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None and error.cause is not None:
            error = error.cause
        if error is not None:
            return error.message.strip().splitlines()[0]
    return "the period_report run failed"
