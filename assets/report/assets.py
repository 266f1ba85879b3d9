"""The period report: a self-contained HTML page (and its figures) for a configured period."""

import dagster as dg

from assets.core.resources import LakeResource
from assets.reference.resource import ReferenceResource

REPORT = dg.AssetKey(["reports", "period_report"])


class PeriodReportConfig(dg.Config):
    """Period to report; empty dates mean every day the reporting layer holds."""

    start: str = ""
    end: str = ""
    name: str = "period_report"
    compare_start: str = ""
    compare_end: str = ""


@dg.asset(
    key=REPORT,
    group_name="reports",
    deps=[dg.AssetKey(["reporting", "daily_summary"])],
    kinds={"html"},
)
def period_report(
    context: dg.AssetExecutionContext,
    config: PeriodReportConfig,
    lake: LakeResource,
    reference: ReferenceResource,
) -> dg.MaterializeResult:
    """A self-contained HTML report (charts and tables, no network needed to view it) of the
    reporting tables over a period, with the figures beside it as Parquet and CSV."""
    from assets.report.build import build_period_report, parse_period

    store = lake.get()
    start, end = parse_period(store, config.start, config.end)
    compare = None
    if config.compare_start and config.compare_end:
        compare = parse_period(store, config.compare_start, config.compare_end)
    out = build_period_report(
        store,
        start,
        end,
        name=config.name,
        compare=compare,
        networks_path=reference.file_path("networks"),
    )
    context.log.info(f"report written to {out.html}")
    return dg.MaterializeResult(
        metadata={
            "path": out.html,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "days": out.days,
            **_headline_metadata(out.headline),
        }
    )


def _headline_metadata(headline: dict) -> dict:
    """The headline figures as metadata: dates as ISO text, lists joined, unknown values
    (nothing found) as null rather than dropped, so every figure shows."""
    out = {}
    for key, value in headline.items():
        if isinstance(value, bool | int | float | str):
            out[key] = value
        elif hasattr(value, "isoformat"):
            out[key] = value.isoformat()
        elif isinstance(value, list | tuple):
            out[key] = ", ".join(map(str, value))
        elif value is None:
            out[key] = dg.MetadataValue.null()
    return out


REPORT_ASSETS = [period_report]
