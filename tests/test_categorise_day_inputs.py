"""A categorised day is built from the sources the deployment has, and held back when one of
them has no validated partition for the day (never published with part of its traffic)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from test_categorise_frames import conn, frame
from test_flow_sessions import CLIENT, record
from test_flow_sessions import frame as flow_frame

from assets.categorised.day_inputs import read_day_sources
from assets.lake import Lake

DAY = dt.date(2017, 5, 17)


def _lake(tmp_path, *, zeek: bool, flows: bool) -> Lake:
    if zeek:
        (tmp_path / "raw" / "zeek" / "s1").mkdir(parents=True)
    if flows:
        (tmp_path / "raw" / "flows" / "edge-1").mkdir(parents=True)
    return Lake(str(tmp_path))


def _write_conn(lake: Lake) -> None:
    lake.write_partition("validated", "conn", DAY, frame("conn", [conn("Z1", "1.1.1.1")]))


def _write_flows(lake: Lake, rows) -> None:
    lake.write_partition("validated", "flows", DAY, flow_frame(rows))


def test_a_zeek_only_deployment_builds_from_conn(tmp_path):
    lake = _lake(tmp_path, zeek=True, flows=False)
    _write_conn(lake)
    conn_rows, flows, why = read_day_sources(lake, DAY)
    assert why is None and conn_rows.height == 1 and flows is None


def test_a_flows_only_deployment_builds_from_flows(tmp_path):
    lake = _lake(tmp_path, zeek=False, flows=True)
    _write_flows(lake, [record(CLIENT, 51000, "52.95.110.1", 443, 0, 5)])
    conn_rows, flows, why = read_day_sources(lake, DAY)
    assert why is None and conn_rows is None and flows.height == 1


def test_a_missing_source_of_the_deployment_holds_the_day_back(tmp_path):
    lake = _lake(tmp_path, zeek=True, flows=True)
    _write_conn(lake)  # the flows day failed its audit: no partition
    *_, why = read_day_sources(lake, DAY)
    assert why == f"validated/flows has no partition {DAY}"
    _write_flows(lake, [])
    lake2 = _lake(tmp_path / "other", zeek=True, flows=True)
    _write_flows(lake2, [record(CLIENT, 51000, "52.95.110.1", 443, 0, 5)])
    *_, why = read_day_sources(lake2, DAY)
    assert why == f"validated/conn has no partition {DAY}"


def test_an_empty_flows_day_adds_nothing_and_no_source_is_no_day(tmp_path):
    lake = _lake(tmp_path, zeek=True, flows=True)
    _write_conn(lake)
    _write_flows(lake, [])
    conn_rows, flows, why = read_day_sources(lake, DAY)
    assert why is None and flows is None and isinstance(conn_rows, pl.DataFrame)
    empty = _lake(tmp_path / "none", zeek=False, flows=False)
    *_, why = read_day_sources(empty, DAY)
    assert why == f"neither validated/conn nor validated/flows has {DAY}"
