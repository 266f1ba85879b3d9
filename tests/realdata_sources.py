"""The real Zeek sources in ../shared/realdata as validated frames, for coverage tests.

A source is the logs of one capture: the sensor archive (three days), zat's TSV logs and
zat's JSON logs. ``sources()`` yields (source, day label, {table: validated frame}).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from assets.validated.schemas import VALIDATED_SCHEMAS
from assets.validated.transform import RawFile, log_table, validate_partition

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
ARCHIVE = REALDATA / "zeek-sensor-archive"
ZAT = REALDATA / "zeek-zat"
TABLES = ("conn", "dns", "ssl", "http")
_FAR = dt.date(2100, 1, 1)  # one folder dated after every record, lateness wide open
_OPEN = (_FAR - dt.date(1990, 1, 1)).days


def _record_days(path: Path) -> set[dt.date]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    days = set()
    for line in data.splitlines():
        if not line.strip() or line.startswith(b"#"):
            continue
        try:
            ts = json.loads(line)["ts"] if line.startswith(b"{") else float(line.split(b"\t")[0])
            days.add(dt.datetime.fromtimestamp(float(ts), dt.UTC).date())
        except (ValueError, KeyError, TypeError):
            continue
    return days


def _whole_log(path: Path | None, table: str) -> pl.DataFrame:
    """Every valid record of one single log, whatever its day."""
    if path is None or not path.exists():
        return pl.DataFrame(schema=VALIDATED_SCHEMAS[table])
    raw = [RawFile(path.name, _FAR, "zat", path.read_bytes)]
    frames = [
        validate_partition(raw, table, d, lateness_days=_OPEN).valid
        for d in sorted(_record_days(path))
    ]
    return pl.concat(frames, how="vertical_relaxed") if frames else _whole_log(None, table)


def _archive_day(day: dt.date) -> dict[str, pl.DataFrame]:
    files: dict[str, list] = {t: [] for t in TABLES}
    for folder in sorted(p for p in ARCHIVE.iterdir() if p.is_dir()):
        folder_day = dt.date.fromisoformat(folder.name)
        for f in sorted(folder.iterdir()):
            if (table := log_table(f.name)) in files:
                files[table].append(
                    RawFile(str(f.relative_to(ARCHIVE)), folder_day, "archive", f.read_bytes)
                )
    out = {t: validate_partition(files[t], t, day).valid for t in TABLES}
    prev = validate_partition(files["dns"], "dns", day - dt.timedelta(days=1)).valid
    out["dns"] = pl.concat([prev, out["dns"]])
    return out


def archive_days() -> list[dt.date]:
    return sorted(dt.date.fromisoformat(p.name) for p in ARCHIVE.iterdir() if p.is_dir())


def sources() -> Iterator[tuple[str, str, dict[str, pl.DataFrame]]]:
    """(source, batch label, validated frames) for every real source with TLS/HTTP names."""
    if ARCHIVE.is_dir():
        for day in archive_days():
            yield "zeek-sensor-archive", day.isoformat(), _archive_day(day)
    if ZAT.is_dir():
        yield "zeek-zat", "tsv", {t: _whole_log(ZAT / f"{t}.log", t) for t in TABLES}
        yield "zeek-zat/json", "json", {t: _whole_log(ZAT / "json" / f"{t}.log", t) for t in TABLES}
