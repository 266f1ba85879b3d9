"""`simulate`: write a scenario's raw Zeek logs and its ground truth into a lake's raw zone.

Days are generated in slices of UTC hours (one slice per day at demo scale); every record is
written into the hourly file of the hour it ends in, as Zeek does, so long connections that
end after midnight land in the next day's 00:00-01:00 file with ts on the previous day.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from assets.simulate import inject, zeek_writer
from assets.simulate.ground_truth import TruthAccumulator, to_json
from assets.simulate.population import Population, build_population
from assets.simulate.scenario import Scenario, load_scenario
from assets.simulate.sessions import EPOCH, US, DayGenerator
from assets.simulate.suspect import truth_entries
from assets.simulate.zeek_writer import HOUR_US, LOGS

# Sessions generated at once: a big day is drawn in slices of hours (at most one hour), so
# memory follows the busiest slice, never the day. Days of fewer sessions keep one slice, and
# with it the records they have always had for a seed.
MAX_SESSIONS_PER_SLICE = 250_000
IN_FLIGHT_FILES = 4  # hourly files compressed and written behind the generation
SLICES = (1, 2, 3, 4, 6, 8, 12, 24)


@dataclass
class SimulationSummary:
    start: dt.date
    end: dt.date
    sessions_per_day: int
    seed: int
    fmt: str
    rows: dict[str, int]  # good records written per log
    injected: dict[str, int]  # injected broken lines per quarantine reason
    files: int
    seconds: float
    rows_per_second: float
    ground_truth_path: str
    sensor: str = "pyongyang-tap"
    folders: list[str] = field(default_factory=list)


class _Writer:
    """Renders, injects, gzips and writes the ready records of each log, hour by hour."""

    def __init__(self, lake, sensor, fmt, seed, inject_rate, truth: TruthAccumulator):
        self.lake, self.sensor, self.fmt = lake, sensor, fmt
        self.seed, self.rate, self.truth = seed, inject_rate, truth
        self.pending: dict[str, pl.DataFrame | None] = dict.fromkeys(LOGS)
        self.rows = dict.fromkeys(LOGS, 0)
        self.injected: dict[str, int] = {}
        self.files = 0
        self.folders: set[str] = set()
        self.flushes = 0
        self.pool = ThreadPoolExecutor(max_workers=2)  # zlib and file I/O release the GIL
        self.futures: list = []

    def add(self, log: str, df: pl.DataFrame) -> None:
        prev = self.pending[log]
        self.pending[log] = df if prev is None else pl.concat([prev, df])

    def flush(self, boundary_us: int | None) -> None:
        """Write every file whose hour ends at or before `boundary_us` (None: all)."""
        self.flushes += 1
        for li, log in enumerate(LOGS):
            df = self.pending[log]
            if df is None or df.height == 0:
                continue
            if boundary_us is None:
                ready, self.pending[log] = df, None
            else:
                ready = df.filter(pl.col("_end") < boundary_us)
                self.pending[log] = df.filter(pl.col("_end") >= boundary_us)
            if ready.height:
                rng = np.random.default_rng([self.seed, 0x696E6A, self.flushes, li])
                self._write(rng, log, ready)
        self._drain(keep=IN_FLIGHT_FILES)

    def _write(self, rng, log: str, ready: pl.DataFrame) -> None:
        ready = ready.with_columns(_hour=pl.col("_end") // HOUR_US * HOUR_US).sort(
            ["_hour", "_end", "uid"]
        )
        self.rows[log] += ready.height
        self.truth.add_records(log, ready["ts"])
        lines = zeek_writer.render_lines(ready, log, self.fmt)
        hours = ready["_hour"].to_numpy()
        order = np.arange(ready.height, dtype=np.int64) * 2 + 1
        frame = pl.DataFrame({"line": lines, "_hour": hours, "_k": order})
        reasons: list[str] = []
        if self.rate > 0:
            uid_base = (1 << 63) | (self.flushes << 40) | (LOGS.index(log) << 36)
            bad, src, reasons = inject.inject_lines(
                rng, lines, ready["ts"].to_numpy(), log, self.fmt, self.rate, uid_base
            )
            if len(src):
                extra = pl.DataFrame({"line": bad, "_hour": hours[src], "_k": src * 2})
                frame = pl.concat([frame, extra]).sort("_k")
                for r, h in zip(reasons, hours[src], strict=True):
                    self.truth.add_injected(_folder(h), log, r)
        # the frame is in hour order: each hour's lines are one contiguous run of it
        hour_col = frame.get_column("_hour").to_numpy()
        starts = np.flatnonzero(np.r_[True, hour_col[1:] != hour_col[:-1]])
        ends = np.r_[starts[1:], len(hour_col)]
        line_col = frame.get_column("line")
        del frame
        cut = rng.random(len(starts)) < self.rate if self.rate > 0 else np.zeros(len(starts), bool)
        for lo, hi, truncated in zip(starts.tolist(), ends.tolist(), cut, strict=True):
            hour, n = int(hour_col[lo]), hi - lo
            lines = line_col.slice(lo, n)
            folder, name = zeek_writer.file_name(log, hour)
            tail = ""
            if truncated:
                tail = inject.truncated_tail(lines[n - 1])
                self.truth.add_injected(folder, log, "truncated_line")
            self.truth.add_folder(folder, log, n + int(truncated))
            path = self.lake.raw_path("zeek", self.sensor, folder, name)
            if folder not in self.folders:
                self.lake.raw_fs.makedirs(posixpath.dirname(path), exist_ok=True)
                self.folders.add(folder)
            self.files += 1
            self.futures.append(
                self.pool.submit(self._put, path, log, hour, lines, tail, bool(truncated))
            )
        for r in [*reasons, *(["truncated_line"] * int(cut.sum()))]:
            self.injected[r] = self.injected.get(r, 0) + 1

    def _put(
        self, path: str, log: str, hour: int, lines: pl.Series, tail: str, truncated: bool
    ) -> None:
        data = zeek_writer.stream_file_bytes(log, self.fmt, hour, lines, tail, truncated)
        self.lake.raw_fs.pipe_file(path, data)

    def _drain(self, keep: int = 0) -> None:
        while len(self.futures) > keep:
            self.futures.pop(0).result()

    def close(self) -> None:
        self._drain()
        self.pool.shutdown()


def _folder(hour_us: int) -> str:
    return (EPOCH + dt.timedelta(days=int(hour_us // (86_400 * US)))).isoformat()


@dataclass(frozen=True)
class SimulationPlan:
    """What every rendering of a scenario (Zeek logs, router exports) starts from: the
    scenario, its checked date range and day size, the population and the day generator."""

    sc: Scenario
    start: dt.date
    end: dt.date
    spd: int
    pop: Population
    gen: DayGenerator

    @classmethod
    def build(cls, scenario, taxonomy, start, end, sessions_per_day, seed) -> SimulationPlan:
        sc = load_scenario(scenario, taxonomy)
        start = start or sc.start
        end = end or sc.end
        if end < start:
            raise ValueError("end is before start")
        spd = int(sessions_per_day if sessions_per_day is not None else sc.sessions_per_day)
        if spd < 0:
            raise ValueError("sessions_per_day must be >= 0")
        pop = build_population(sc, seed)
        return cls(sc, start, end, spd, pop, DayGenerator(sc, pop, seed, spd))

    def planted_counts(self, day: dt.date) -> dict[tuple[bool, int, str], int]:
        """Planted suspect sessions of `day` per (inbound, actor), for the ground truth."""
        planted = self.gen.planted_day(day)
        who = np.stack([planted.inbound, planted.actor])
        keys, n = np.unique(who, axis=1, return_counts=True)
        return {
            (bool(inbound), actor, day.isoformat()): c
            for (inbound, actor), c in zip(keys.T.tolist(), n.tolist(), strict=True)
        }


def slices_per_day(sessions_per_day: int) -> int:
    for k in SLICES:
        if sessions_per_day / k <= MAX_SESSIONS_PER_SLICE:
            return k
    return SLICES[-1]


def simulate(
    lake,
    *,
    scenario: str | Path | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    sessions_per_day: int | None = None,
    seed: int = 2017,
    fmt: str = "tsv",
    inject_rate: float = 0.0,
    sensor: str = "pyongyang-tap",
    progress: Callable[[int, int], None] | None = None,
    taxonomy: str | Path | None = None,
) -> SimulationSummary:
    """Write the scenario's raw Zeek logs under `<raw>/zeek/<sensor>/<date>/` and its ground
    truth at `<raw>/zeek/<sensor>/ground_truth.json`. `progress(done_days, total_days)`."""
    t0 = time.perf_counter()
    if fmt not in ("tsv", "json"):
        raise ValueError("fmt must be 'tsv' or 'json'")
    if not 0.0 <= inject_rate <= 1.0:
        raise ValueError("inject_rate must be within 0..1")
    plan = SimulationPlan.build(scenario, taxonomy, start, end, sessions_per_day, seed)
    sc, start, end, spd, pop, gen = plan.sc, plan.start, plan.end, plan.spd, plan.pop, plan.gen
    truth = TruthAccumulator(sc)
    writer = _Writer(lake, sensor, fmt, seed, inject_rate, truth)
    k = slices_per_day(spd)
    step = 24 // k
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    planted_counts: dict[tuple[bool, int, str], int] = {}
    try:
        for di, day in enumerate(days):
            day_us = (day - EPOCH).days * 86_400 * US
            for s in range(k):
                batch = gen.generate(day, s, s * step, (s + 1) * step, last=s == k - 1)
                truth.add_sessions(batch.truth)
                for log in LOGS:
                    writer.add(log, getattr(batch, log))
                writer.flush(day_us + (s + 1) * step * HOUR_US)
            planted_counts.update(plan.planted_counts(day))
            if progress:
                progress(di + 1, len(days))
        writer.flush(None)
    finally:
        writer.close()

    meta = {
        "scenario": sc.name,
        "scenario_file": Path(sc.source).name,
        "sensor": sensor,
        "seed": seed,
        "format": fmt,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "sessions_per_day": spd,
        "inject_rate": inject_rate,
    }
    doc = truth.build(meta)
    doc["suspect"] = truth_entries(sc.suspect, pop.planted, start, end, planted_counts)
    gt_path = lake.raw_path("zeek", sensor, "ground_truth.json")
    lake.raw_fs.makedirs(posixpath.dirname(gt_path), exist_ok=True)
    lake.raw_fs.pipe_file(gt_path, to_json(doc))
    seconds = time.perf_counter() - t0
    total = sum(writer.rows.values())
    return SimulationSummary(
        start=start,
        end=end,
        sessions_per_day=spd,
        seed=seed,
        fmt=fmt,
        rows=dict(writer.rows),
        injected=dict(sorted(writer.injected.items())),
        files=writer.files,
        seconds=round(seconds, 3),
        rows_per_second=round(total / seconds, 1) if seconds else 0.0,
        ground_truth_path=gt_path,
        sensor=sensor,
        folders=sorted(writer.folders),
    )
