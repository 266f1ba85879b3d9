"""Missing or short raw input as a finding: a day whose sensors wrote nothing, or far less
than usual, is how a dead tap or a full disk shows up in a batch pipeline."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable

from assets.publishing import Finding

TRAILING_DAYS = 7
MIN_TRAILING = 3  # days of history needed before "short" is judged
SHORT_SHARE = 1 / 3  # under a third of the trailing median is short


def trailing_rows(
    day: dt.date, rows_of: Callable[[dt.date], int | None], days: int = TRAILING_DAYS
) -> list[int]:
    """Rows of the `days` days before `day` that have a partition (older first)."""
    found = []
    for back in range(days, 0, -1):
        n = rows_of(day - dt.timedelta(days=back))
        if n is not None:
            found.append(n)
    return found


def raw_volume(raw_files: int, rows: int, trailing: list[int]) -> Finding:
    """The verdict for one day: no raw files at all fails; so do rows under a third of the
    trailing median (once there are enough days to judge)."""
    meta = {"raw_files": raw_files, "rows": rows, "trailing_days": len(trailing)}
    if raw_files == 0:
        return Finding(False, "no raw files for this day (its folders were empty)", meta)
    if len(trailing) < MIN_TRAILING:
        return Finding(True, f"{rows:,} rows; too little history to judge volume", meta)
    median = statistics.median(trailing)
    meta["trailing_median"] = float(median)
    if rows < SHORT_SHARE * median:
        return Finding(
            False,
            f"{rows:,} rows, under a third of the trailing median {median:,.0f}",
            meta,
        )
    return Finding(True, f"{rows:,} rows; trailing median {median:,.0f}", meta)


class DayVolumes:
    """The raw_volume finding of each day of a run: the trailing days come from this run where
    it computed them (a range run), else from the published partitions' footers."""

    def __init__(self, rows_of_published: Callable[[dt.date], int | None]):
        self._published = rows_of_published
        self._in_run: dict[dt.date, int] = {}

    def _rows(self, day: dt.date) -> int | None:
        return self._in_run[day] if day in self._in_run else self._published(day)

    def finding(self, day: dt.date, raw_files: int, rows: int) -> Finding:
        verdict = raw_volume(raw_files, rows, trailing_rows(day, self._rows))
        self._in_run[day] = rows
        return verdict
