"""The partitioned layers: validated (+ quarantine), flows, categorised and reporting, and the
report."""

from assets.categorised.assets import CATEGORISED_ASSETS
from assets.flows.assets import FLOW_ASSETS
from assets.report.assets import REPORT_ASSETS
from assets.reporting.assets import REPORTING_ASSETS
from assets.validated.assets import VALIDATED_ASSETS

LAYER_ASSETS = [
    *VALIDATED_ASSETS,
    *FLOW_ASSETS,
    *CATEGORISED_ASSETS,
    *REPORTING_ASSETS,
    *REPORT_ASSETS,
]
