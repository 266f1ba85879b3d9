"""What a validated partition reads: the raw files of its folders, what was skipped and why,
and the guard that keeps a vanished input from replacing published data with less."""

from __future__ import annotations

import datetime as dt
import functools
import os
from dataclasses import dataclass, field

import polars as pl

from assets.lake import Lake
from assets.rawzone import RawInputMissing, list_folder
from assets.validated.schemas import TABLES
from assets.validated.transform import RawFile
from assets.zeek.names import classify, is_rotated

REPUBLISH_EMPTY_ENV = "HERMIT_REPUBLISH_EMPTY"


@dataclass
class RawInputs:
    files: list[RawFile] = field(default_factory=list)
    # entries of the folders that no table reads, or that look like this table's but are
    # not logs (conn.log.bak): path relative to the raw root -> why
    skipped: dict[str, str] = field(default_factory=dict)


def collect_raw_inputs(
    lake: Lake, table: str, day: dt.date, lateness_days: int, unrotated_days: int = 1
) -> RawInputs:
    """Every raw file of `table` in every sensor's folders day..day+L, and the un-rotated
    ones of folders day-U..day-1 (the time rule). Skipped entries are those of day..day+L."""
    out = RawInputs()
    for sensor in lake.raw_sensors():
        for offset in range(-unrotated_days, lateness_days + 1):
            folder_day = day + dt.timedelta(days=offset)
            listing = list_folder(lake, sensor, folder_day)
            if offset < 0:  # an earlier folder: only its un-rotated logs can hold day's records
                out.files += [
                    RawFile(lake.raw_relpath(p), folder_day, sensor, *_loaders(lake, p))
                    for p in listing.files
                    if classify(p)[0] == table and not is_rotated(p)
                ]
                continue
            out.skipped.update(listing.skipped)
            for path in listing.files:
                rel = lake.raw_relpath(path)
                log, why = classify(path)
                if log == table:
                    out.files.append(RawFile(rel, folder_day, sensor, *_loaders(lake, path)))
                elif log is None:
                    if why and (_stem(path) == table or _stem(path) not in TABLES):
                        out.skipped[rel] = why
                elif log not in TABLES:
                    out.skipped[rel] = f"log {log!r} is not one hermit reads ({', '.join(TABLES)})"
    return out


def collect_raw_files(
    lake: Lake, table: str, day: dt.date, lateness_days: int, unrotated_days: int = 1
) -> list[RawFile]:
    return collect_raw_inputs(lake, table, day, lateness_days, unrotated_days).files


def _loaders(lake: Lake, path: str):
    return functools.partial(lake.read_raw_bytes, path), functools.partial(lake.open_raw, path)


def _stem(path: str) -> str:
    return path.rsplit("/", 1)[-1].lstrip(".").split(".", 1)[0]


def skipped_text(skipped: dict[str, str]) -> str:
    """The skipped entries as metadata text, one `path: why` per line."""
    return "\n".join(f"{p}: {why}" for p, why in sorted(skipped.items())) or "none"


def guard_published(
    lake: Lake,
    table: str,
    day: dt.date,
    files: list[RawFile],
    fresh: list[pl.DataFrame] | dict[str, int] | None = None,
) -> None:
    """Raise RawInputMissing when re-publishing partition `day` would lose a sensor's records
    because its raw input vanished (an unmounted volume, a store that came back empty): the
    sensor has records in the published partition, none of its files of `table` is left in
    the day's own folder, and the fresh result (`fresh`: the new valid and quarantine frames,
    or their rows per sensor; None: not computed yet, i.e. no records) holds fewer of its
    records than published.

    HERMIT_REPUBLISH_EMPTY=1 allows it (a sensor's logs were removed on purpose).
    """
    if os.environ.get(REPUBLISH_EMPTY_ENV, "") not in ("", "0"):
        return
    published = _per_sensor(
        part
        for zone in ("validated", "quarantine")
        for part in lake.iter_partition(zone, table, day, columns=["sensor"])
    )
    if not published:
        return
    own_folder = {f.sensor for f in files if f.folder_day == day}
    now = dict(fresh) if isinstance(fresh, dict) else _per_sensor(fresh or [])
    gone = sorted(s for s, n in published.items() if s not in own_folder and now.get(s, 0) < n)
    if gone:
        lost = sum(published[s] - now.get(s, 0) for s in gone)
        raise RawInputMissing(
            f"{table} {day}: the raw files of sensor(s) {', '.join(gone)} in folder {day} are "
            f"gone; re-publishing would drop {lost} of their published records, so the day "
            f"keeps what was published (set {REPUBLISH_EMPTY_ENV}=1 to publish it without them)"
        )


def _per_sensor(frames) -> dict[str, int]:
    counts: dict[str, int] = {}
    for frame in frames:
        if "sensor" not in frame.columns:
            continue
        for sensor, n in frame.group_by("sensor").len().iter_rows():
            if sensor is not None:
                counts[sensor] = counts.get(sensor, 0) + n
    return counts
