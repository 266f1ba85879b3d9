"""Observable source assets: the raw zones, Zeek and flows (files and bytes per folder day), and the
reference files (networks, taxonomy), whose content hash is their data version."""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter
from pathlib import Path

import dagster as dg

from assets.core.keys import RAW_FLOWS, RAW_ZEEK, REFERENCE_NETWORKS, REFERENCE_TAXONOMY
from assets.core.resources import LakeResource
from assets.reference.resource import ReferenceResource

RECENT_DAYS = 14  # folder days listed in the raw zone's observation


def _observable(**kw):
    """Dagster 1.13's observable_source_asset (beta; the dagster release is pinned), without
    its warning on every import."""

    def wrap(fn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)
            return dg.observable_source_asset(**kw)(fn)

    return wrap


def _raw_zone_observation(lake: LakeResource, zone: str) -> dg.ObserveResult:
    files = lake.get().raw_inventory(zone)
    per_day_files: Counter = Counter(f.day.isoformat() for f in files)
    per_day_bytes: Counter = Counter()
    for f in files:
        per_day_bytes[f.day.isoformat()] += f.size
    recent = sorted(per_day_files)[-RECENT_DAYS:]
    table = "| folder day | files | bytes |\n|---|---:|---:|\n" + "\n".join(
        f"| {d} | {per_day_files[d]:,} | {per_day_bytes[d]:,} |" for d in recent
    )
    return dg.ObserveResult(
        metadata={
            "files": len(files),
            "bytes": sum(f.size for f in files),
            "sources": ", ".join(sorted({f.sensor for f in files})) or "none",
            "folder_days": len(per_day_files),
            "last_folder_day": recent[-1] if recent else "none",
            "recent_days": dg.MetadataValue.md(table),
        }
    )


@_observable(
    key=RAW_ZEEK,
    group_name="raw",
    description="Zeek logs as the sensors wrote them (raw/zeek/<sensor>/<YYYY-MM-DD>/...): "
    "observed for files and bytes per folder day; never modified by hermit.",
)
def raw_zeek(lake: LakeResource) -> dg.ObserveResult:
    return _raw_zone_observation(lake, "zeek")


@_observable(
    key=RAW_FLOWS,
    group_name="raw",
    description="Flow telemetry as collectors and exporters wrote it "
    "(raw/flows/<exporter>/<YYYY-MM-DD>/...): observed for files and bytes per folder day.",
)
def raw_flows(lake: LakeResource) -> dg.ObserveResult:
    return _raw_zone_observation(lake, "flows")


def _reference_asset(key: dg.AssetKey, which: str, description: str):
    @_observable(key=key, group_name="reference", description=description)
    def _observe(reference: ReferenceResource) -> dg.ObserveResult:
        path = Path(reference.file_path(which))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return dg.ObserveResult(
            data_version=dg.DataVersion(digest[:16]),
            metadata={"path": str(path), "sha256": digest, "bytes": path.stat().st_size},
        )

    return _observe


reference_networks = _reference_asset(
    REFERENCE_NETWORKS,
    "networks",
    "The monitored networks (CIDR, label, owner, IANA zone); its content hash is its version.",
)
reference_taxonomy = _reference_asset(
    REFERENCE_TAXONOMY,
    "taxonomy",
    "The service taxonomy (categories, domain suffixes, IP prefixes, ports); its content hash "
    "is its version, so categorised and reporting partitions show stale when it changes.",
)

LINEAGE_ASSETS = [raw_zeek, raw_flows, reference_networks, reference_taxonomy]
