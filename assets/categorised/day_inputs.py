"""Which sources a categorised day is built from: validated conn (Zeek) and validated flows.

A deployment may have Zeek sensors, flow exporters or both (their raw zone folders say
which). A day is built from the sources the deployment has; when one of them has no
validated partition for the day (it failed its audit, or was never run), the day is held
back rather than published with part of its traffic missing.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from assets.categorised.flow_sessions import FLOW_INPUT_COLUMNS
from assets.categorised.sessions import INPUT_COLUMNS
from assets.flows.raw import exporters
from assets.lake import Lake


def _has_raw(list_folders) -> bool:
    try:
        return bool(list_folders())
    except FileNotFoundError:
        return False


def day_sources(lake: Lake, day: dt.date) -> tuple[bool, bool, str | None]:
    """(build from conn, build from flows, why the day cannot be built or None), from the
    partitions' presence only: nothing is read."""
    has_conn = lake.has_partition("validated", "conn", day)
    has_flows = lake.has_partition("validated", "flows", day)
    missing = []
    if not has_conn and _has_raw(lake.raw_sensors):
        missing.append("validated/conn")
    if not has_flows and _has_raw(lambda: exporters(lake)):
        missing.append("validated/flows")
    if missing:
        return has_conn, has_flows, f"{' and '.join(missing)} has no partition {day}"
    if not has_conn and not has_flows:
        return False, False, f"neither validated/conn nor validated/flows has {day}"
    return has_conn, has_flows, None


def read_day_sources(
    lake: Lake, day: dt.date
) -> tuple[pl.DataFrame | None, pl.DataFrame | None, str | None]:
    """(conn, flows, why the day cannot be built or None). A source the deployment does not
    have, or an empty flows partition, is None."""
    has_conn, has_flows, why = day_sources(lake, day)
    conn = (
        lake.read_partition("validated", "conn", day, INPUT_COLUMNS["conn"]) if has_conn else None
    )
    flows = (
        lake.read_partition("validated", "flows", day, FLOW_INPUT_COLUMNS) if has_flows else None
    )
    if why is not None:
        return conn, flows, why
    if flows is not None and flows.height == 0:
        flows = None  # a day without flow records: nothing to merge
    if conn is None and flows is None:
        return None, None, f"neither validated/conn nor validated/flows has {day}"
    return conn, flows, None
