"""The validated_flows Dagster asset: a collector's directory in the raw zone becomes the day's
`flows` and quarantine partitions, audited by their GE suites, with reconciling metadata."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import dagster as dg
import polars as pl

from assets.core.resources import LakeResource
from assets.flows.assets import validated_flows
from assets.lake import Lake

DAY = dt.date(2024, 3, 5)


def _goflow(start_s: int, port: int) -> str:
    return json.dumps(
        {
            "time_flow_start_ns": start_s * 10**9,
            "time_flow_end_ns": (start_s + 2) * 10**9,
            "src_addr": "10.0.0.1",
            "dst_addr": "192.0.2.7",
            "src_port": port,
            "dst_port": 443,
            "proto": "TCP",
            "bytes": 1000,
            "packets": 3,
            "sampling_rate": 100,
        }
    )


def test_collector_directory_to_validated_partitions(tmp_path):
    folder = tmp_path / "raw" / "flows" / "edge-1" / DAY.isoformat()
    folder.mkdir(parents=True)
    noon = int(dt.datetime(2024, 3, 5, 12, tzinfo=dt.UTC).timestamp())
    lines = [_goflow(noon + i, 40000 + i) for i in range(50)] + ['{"broken": ']
    (folder / "goflow2.log.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    (folder / "nfcapd.current.1234").write_bytes(b"being written")  # nfcapd's open file
    result = dg.materialize(
        [validated_flows],
        partition_key=DAY.isoformat(),
        resources={"lake": LakeResource(root=str(tmp_path), lateness_days=1)},
    )
    assert result.success
    lake = Lake(str(tmp_path))
    flows = lake.read_partition("validated", "flows", DAY)
    quarantine = lake.read_partition("quarantine", "flows", DAY)
    assert flows.height == 50 and set(flows["sampling_rate"]) == {100}
    assert quarantine["reason"].to_list() == ["parse_error"]
    meta = {
        e.asset_key.path[0]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    v = meta["validated"]
    assert v["raw_records"].value == 51 == v["valid"].value + v["quarantined"].value
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    assert pl.Series(flows["start"]).dt.date().unique().to_list() == [DAY]
