"""The daily job from flow records: a collector's directory in the raw zone becomes validated
flows, categorised sessions (source flow) and reporting tables, in one run."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
from pipeline_run import run_days

from assets.lake import Lake

DAY = dt.date(2017, 5, 2)
CLIENT = "175.45.176.10"
AWS = "52.95.110.1"  # AMAZON-02 in the bundled ASN data


def _goflow(start_s: float, src, sport, dst, dport, nbytes, *, rate: int) -> str:
    return json.dumps(
        {
            "time_flow_start_ns": int(start_s * 10**9),
            "time_flow_end_ns": int((start_s + 50) * 10**9),
            "src_addr": src,
            "dst_addr": dst,
            "src_port": sport,
            "dst_port": dport,
            "proto": "TCP",
            "bytes": nbytes,
            "packets": 3,
            "sampling_rate": rate,
        }
    )


def write_flows(root, rate: int, connections: int = 5) -> None:
    folder = root / "raw" / "flows" / "edge-1" / DAY.isoformat()
    folder.mkdir(parents=True)
    (root / "raw" / "zeek").mkdir()  # a flows-only deployment: an empty Zeek zone
    noon = dt.datetime(2017, 5, 2, 3, tzinfo=dt.UTC).timestamp()
    lines = []
    for i in range(connections):
        port = 40000 + i
        for piece in range(2):  # two active-timeout pieces per direction
            t = noon + i * 600 + piece * 60
            lines.append(_goflow(t, CLIENT, port, AWS, 443, 100, rate=rate))
            lines.append(_goflow(t + 0.01, AWS, 443, CLIENT, port, 1000, rate=rate))
    (folder / "goflow2.log").write_text("\n".join(lines) + "\n")


def test_flows_only_day_through_the_daily_job(tmp_path):
    write_flows(tmp_path, rate=100)
    result = run_days(str(tmp_path), DAY, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    lake = Lake(str(tmp_path))
    flows = lake.read_partition("validated", "flows", DAY)
    sessions = lake.read_partition("categorised", "sessions", DAY)
    assert flows.height == 20
    assert sessions.height == 5 and set(sessions["source"]) == {"flow"}
    assert sessions["flows"].sum() == flows.height
    assert set(sessions["service"]) == {"Amazon Web Services"}
    assert sessions["bytes_total"].sum() == 5 * 2 * (100 + 1000) * 100
    meta = {
        "/".join(e.asset_key.path): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    cat = meta["categorised/sessions"]
    assert cat["validated_flows"].value == 20 and cat["sessions_flow"].value == 5
    summary = lake.read_partition("reporting", "daily_summary", DAY)
    assert summary.item(0, "sessions") == 5
    by_category = lake.read_partition("reporting", "activity_by_category", DAY)
    assert by_category["estimated"].all() and set(by_category["max_sampling_rate"]) == {100}
    assert summary.item(0, "estimated") is True
