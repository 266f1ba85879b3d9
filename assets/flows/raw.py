"""The flows raw zone: `<raw>/flows/<exporter>/<YYYY-MM-DD>/<file>` (any format, gzip too)."""

from __future__ import annotations

import datetime as dt
import functools
import posixpath

from assets.lake import Lake, with_retries
from assets.validated.transform import RawFile

ZONE = "flows"


def _ls(lake: Lake, path: str) -> list[dict]:
    lake.raw_fs.invalidate_cache(path)
    try:
        return with_retries(lambda: lake.raw_fs.ls(path, detail=True))
    except FileNotFoundError:
        return []


def _is_dir(lake: Lake, entry: dict) -> bool:
    # a collector's directory linked into the raw zone is listed as a link: judge its target
    if entry.get("islink") or entry["type"] == "other":
        return lake.raw_fs.isdir(entry["name"])
    return entry["type"] == "directory"


def exporters(lake: Lake) -> list[str]:
    return sorted(
        posixpath.basename(e["name"].rstrip("/"))
        for e in _ls(lake, lake.raw_path(ZONE))
        if _is_dir(lake, e)
    )


def _skipped(name: str) -> bool:
    # nfcapd writes `nfcapd.current.<pid>` and renames it when it rotates; `.nfstat` is its
    # statistics file; dot files are editors' and sync tools' scratch files
    return name.startswith((".", "nfcapd.current")) or name.endswith(".nfstat")


def collect_flow_files(lake: Lake, day: dt.date, lateness_days: int) -> list[RawFile]:
    """Every raw flow file in every exporter's folders day..day+L (the time rule)."""
    files = []
    for exporter in exporters(lake):
        for offset in range(lateness_days + 1):
            folder_day = day + dt.timedelta(days=offset)
            folder = lake.raw_path(ZONE, exporter, folder_day.isoformat())
            for entry in sorted(_ls(lake, folder), key=lambda e: e["name"]):
                name = posixpath.basename(entry["name"])
                if _is_dir(lake, entry) or _skipped(name):
                    continue
                files.append(
                    RawFile(
                        source_file=lake.raw_relpath(entry["name"]),
                        folder_day=folder_day,
                        sensor=exporter,
                        load=functools.partial(lake.read_raw_bytes, entry["name"]),
                    )
                )
    return files
