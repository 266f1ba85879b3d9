"""Sensors: late raw data re-materialises the partitions it affects."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg

from assets.core.partitions import DAILY
from assets.core.resources import LakeResource
from assets.lake import RawFile
from workflows.jobs import DAILY_PIPELINE_JOB

LATE_DATA_SENSOR = "raw_late_data"
LATE_DATA_INTERVAL_SECONDS = int(os.environ.get("HERMIT_LATE_DATA_INTERVAL_SECONDS", "900"))
# Files are judged new by their arrival time on the store. An upload that started before an
# already-seen file can still show up later with an older timestamp, so the cursor remembers
# every file that arrived within this window and re-checks the window on each tick.
OVERLAP_SECONDS = 3600.0


@dataclass
class RawCursor:
    """What the sensor has seen: a watermark and the files that arrived near it."""

    watermark: float = 0.0
    recent: dict[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> RawCursor | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(float(data["watermark"]), {k: float(v) for k, v in data["recent"].items()})

    def dumps(self) -> str:
        return json.dumps({"watermark": self.watermark, "recent": self.recent}, sort_keys=True)

    def new_files(self, files: Iterable[RawFile]) -> list[RawFile]:
        """Files not seen before, or rewritten since (a new arrival time)."""
        horizon = self.watermark - OVERLAP_SECONDS
        return [f for f in files if f.modified >= horizon and self.recent.get(f.path) != f.modified]

    def advanced(self, files: list[RawFile]) -> RawCursor:
        watermark = max([self.watermark, *(f.modified for f in files)])
        horizon = watermark - OVERLAP_SECONDS
        recent = {p: t for p, t in self.recent.items() if t >= horizon}
        recent.update({f.path: f.modified for f in files if f.modified >= horizon})
        return RawCursor(watermark, recent)


def affected_partitions(
    files: Iterable[RawFile],
    lateness_days: int,
    first: dt.date,
    last: dt.date,
    unrotated_days: int = 0,
) -> list[dt.date]:
    """A file in raw folder F can hold records of days F-L..F (time rule), and an un-rotated
    one of F-L..F+U, so those partitions change; kept within the partitions that exist."""
    from assets.zeek.names import is_rotated

    days: set[dt.date] = set()
    for f in files:
        ahead = 0 if is_rotated(f.path) else unrotated_days
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
    """Raw files that arrive in a folder F re-materialise partitions F-L..F (L =
    HERMIT_LATENESS_DAYS), each file once. The first tick only records what is there."""
    files = lake.get().raw_inventory()
    cursor = RawCursor.parse(context.cursor)
    if cursor is None:
        baseline = RawCursor().advanced(files)
        return dg.SensorResult(
            skip_reason=f"baseline: {len(files)} raw files recorded (backfill them explicitly)",
            cursor=baseline.dumps(),
        )
    new = cursor.new_files(files)
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
        cursor=cursor.advanced(new).dumps(),
        skip_reason=None if requests else "new raw files affect no existing partition",
    )


SENSORS = [late_raw_data]
