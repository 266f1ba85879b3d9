"""Sensors: late raw data re-materialises the partitions it affects."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import dagster as dg

from assets.core.partitions import DAILY
from assets.core.resources import LakeResource
from assets.lake import RawFile
from workflows.jobs import DAILY_PIPELINE_JOB

LATE_DATA_SENSOR = "raw_late_data"
LATE_DATA_INTERVAL_SECONDS = int(os.environ.get("HERMIT_LATE_DATA_INTERVAL_SECONDS", "900"))
# Files are judged new by their arrival time on the store. An upload that started before an
# already-seen file can still show up later with an older timestamp, so the cursor re-checks the
# files that arrived within this window of the watermark on each tick.
OVERLAP_SECONDS = 3600.0


@dataclass
class RawCursor:
    """What the sensor has seen: a watermark, and per raw folder (sensor/day) with files that
    arrived near it, a fingerprint of those files. It stays a few bytes per recent folder,
    however many files the folders hold."""

    watermark: float = 0.0
    folders: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> RawCursor | None:
        if not text:
            return None
        data = json.loads(text)
        if "folders" not in data:  # a cursor from before folder fingerprints: start over
            return None
        return cls(float(data["watermark"]), dict(data["folders"]))

    def dumps(self) -> str:
        return json.dumps({"watermark": self.watermark, "folders": self.folders}, sort_keys=True)

    def new_files(self, files: Iterable[RawFile]) -> list[RawFile]:
        """The recent files of every folder whose recent files changed (a new file, or one
        rewritten with a new arrival time)."""
        recent = _by_folder(files, self.watermark - OVERLAP_SECONDS)
        return [
            f
            for folder, group in sorted(recent.items())
            if self.folders.get(folder) != _fingerprint(group)
            for f in group
        ]

    def advanced(self, files: list[RawFile]) -> RawCursor:
        files = list(files)
        watermark = max([self.watermark, *(f.modified for f in files)])
        recent = _by_folder(files, watermark - OVERLAP_SECONDS)
        return RawCursor(watermark, {k: _fingerprint(v) for k, v in recent.items()})


def _by_folder(files: Iterable[RawFile], horizon: float) -> dict[str, list[RawFile]]:
    out: dict[str, list[RawFile]] = {}
    for f in files:
        if f.modified >= horizon:
            out.setdefault(f"{f.sensor}/{f.day.isoformat()}", []).append(f)
    return out


def _fingerprint(files: list[RawFile]) -> str:
    text = "\n".join(sorted(f"{f.path}@{f.modified}@{f.size}" for f in files))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


# Flow files are listed as sensor `flows/<exporter>` (no Zeek sensor name holds a `/`), so each
# zone's folders keep their own fingerprint in the cursor.
FLOWS_PREFIX = "flows/"


def raw_files(lake) -> list[RawFile]:
    """Every dated raw file the sensor watches: the Zeek zone's, then the flows zone's."""
    flows = [replace(f, sensor=FLOWS_PREFIX + f.sensor) for f in lake.raw_inventory("flows")]
    return lake.raw_inventory() + flows


def affected_partitions(
    files: Iterable[RawFile],
    lateness_days: int,
    first: dt.date,
    last: dt.date,
    unrotated_days: int = 0,
) -> list[dt.date]:
    """A file in raw folder F can hold records of days F-L..F (time rule), and an un-rotated
    Zeek log one of F-L..F+U, so those partitions change; kept within the partitions that
    exist. Flow files follow the time rule alone (a flow belongs to the day of its start)."""
    from assets.zeek.names import is_rotated

    days: set[dt.date] = set()
    for f in files:
        flow = f.sensor.startswith(FLOWS_PREFIX)
        ahead = 0 if flow or is_rotated(f.path) else unrotated_days
        for back in range(-ahead, lateness_days + 1):
            day = f.day - dt.timedelta(days=back)
            if first <= day <= last:
                days.add(day)
    return sorted(days)


@dg.sensor(
    name=LATE_DATA_SENSOR,
    job=DAILY_PIPELINE_JOB,
    minimum_interval_seconds=LATE_DATA_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def late_raw_data(context: dg.SensorEvaluationContext, lake: LakeResource):
    """Raw files (Zeek logs or flow files) that arrive in a folder F re-materialise partitions
    F-L..F (L = HERMIT_LATENESS_DAYS), each file once. The first tick only records what is
    there."""
    files = raw_files(lake.get())
    cursor = RawCursor.parse(context.cursor)
    if cursor is None:
        baseline = RawCursor().advanced(files)
        return dg.SensorResult(
            skip_reason=f"baseline: {len(files)} raw files recorded (backfill them explicitly)",
            cursor=baseline.dumps(),
        )
    new = cursor.new_files(files)
    # everything the store lists now goes into the next cursor, so a folder's fingerprint
    # covers its files that arrived within the window
    if not new:
        return dg.SensorResult(skip_reason="no new raw files", cursor=cursor.dumps())
    last_key = DAILY.get_last_partition_key()
    last = dt.date.fromisoformat(last_key) if last_key else DAILY.start.date()
    settings = lake.settings()
    days = affected_partitions(
        new, settings.lateness_days, DAILY.start.date(), last, settings.unrotated_days
    )
    digest = hashlib.sha1("\n".join(f"{f.path}@{f.modified}" for f in new).encode()).hexdigest()[
        :12
    ]
    context.log.info(
        f"{len(new)} new raw file(s) in folders "
        f"{sorted({f.day.isoformat() for f in new})} -> partitions {[d.isoformat() for d in days]}"
    )
    requests = [
        dg.RunRequest(
            run_key=f"late-{day.isoformat()}-{digest}",
            partition_key=day.isoformat(),
            tags={"hermit/trigger": "late_data", "hermit/new_raw_files": str(len(new))},
        )
        for day in days
    ]
    return dg.SensorResult(
        run_requests=requests,
        cursor=cursor.advanced(files).dumps(),
        skip_reason=None if requests else "new raw files affect no existing partition",
    )


SENSORS = [late_raw_data]
