"""`simulate`: write a scenario's raw Zeek logs and its ground truth into a lake's raw zone.

Days are generated in slices of UTC hours, or of minutes for big days (one slice per day at
demo scale); every record is written into the hourly file of the hour it ends in, as Zeek
does, so long connections that end after midnight land in the next day's 00:00-01:00 file
with ts on the previous day. A file is appended to as its records end, slice after slice.
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
from assets.simulate.sessions import EPOCH, US, DayGenerator, DaySlice
from assets.simulate.suspect import truth_entries
from assets.simulate.zeek_writer import HOUR_US, LOGS

# Sessions generated at once: a big day is drawn in slices of hours, or of minutes when an
# hour holds more than this, so memory follows the slice, never the day. Days of fewer
# sessions keep one slice, and with it the records they have always had for a seed; days cut
# in at most 24 slices keep theirs too.
MAX_SESSIONS_PER_SLICE = 250_000
SLICES = (1, 2, 3, 4, 6, 8, 12, 24)
SLICES_PER_HOUR = (2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)  # sub-hour slices start on a minute


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


@dataclass
class _OpenFile:
    """An hourly file being written: its compressor, the last line given to it so far and
    whether it was drawn to end truncated."""

    path: str
    folder: str
    out: zeek_writer.HourFile | None = None
    sink: object = None
    last_line: str = ""
    truncated: bool = False


class _Writer:
    """Renders, injects, gzips and writes the ready records of each log, hour by hour.

    A record is ready once the flush boundary has passed its end; everything ready at a
    flush ends after what the previous flush wrote, so each hourly file is the lines of
    successive flushes, appended in order, and is closed once the boundary passes the
    hour's end. Each log has its own writer thread, so a file's pieces keep their order."""

    def __init__(self, lake, sensor, fmt, seed, inject_rate, truth: TruthAccumulator):
        self.lake, self.sensor, self.fmt = lake, sensor, fmt
        self.seed, self.rate, self.truth = seed, inject_rate, truth
        self.pending: dict[str, pl.DataFrame | None] = dict.fromkeys(LOGS)
        self.rows = dict.fromkeys(LOGS, 0)
        self.injected: dict[str, int] = {}
        self.files = 0
        self.folders: set[str] = set()
        self.flushes = 0
        self.open: dict[tuple[str, int], _OpenFile] = {}
        # zlib and file I/O release the GIL
        self.pools = {log: ThreadPoolExecutor(max_workers=1) for log in LOGS}
        self.futures: list = []

    def add(self, log: str, df: pl.DataFrame) -> None:
        prev = self.pending[log]
        self.pending[log] = df if prev is None else pl.concat([prev, df])

    def flush(self, boundary_us: int | None) -> None:
        """Write every record that ends before `boundary_us` and close the files whose hour
        is then over (None: all)."""
        self.flushes += 1
        behind = len(self.futures)
        for li, log in enumerate(LOGS):
            df = self.pending[log]
            if df is None or df.height == 0:
                continue
            if boundary_us is None:
                ready, self.pending[log] = df.lazy(), None
            else:
                ready = df.lazy().filter(pl.col("_end") < boundary_us)
                self.pending[log] = _compact(df.filter(pl.col("_end") >= boundary_us))
            del df  # the ready records are held once, sorted
            ready = (
                ready.with_columns(_hour=pl.col("_end") // HOUR_US * HOUR_US)
                .sort(["_hour", "_end", "uid"])
                .collect()
            )
            if ready.height:
                rng = np.random.default_rng([self.seed, 0x696E6A, self.flushes, li])
                self._write(rng, log, ready)
            del ready
        for (log, hour), f in list(self.open.items()):
            if boundary_us is None or hour + HOUR_US <= boundary_us:
                self._close(log, hour, f)
        # the files of one flush are written behind the generation of the next slice
        self._drain(keep=len(self.futures) - behind)

    def _write(self, rng, log: str, ready: pl.DataFrame) -> None:
        """`ready` is sorted by (_hour, _end, uid)."""
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
        # drawn for every hour of the flush (a file's draw is its first flush's)
        cut = rng.random(len(starts)) < self.rate if self.rate > 0 else np.zeros(len(starts), bool)
        for lo, hi, truncated in zip(starts.tolist(), ends.tolist(), cut, strict=True):
            hour, n = int(hour_col[lo]), hi - lo
            f = self.open.get((log, hour))
            if f is None:
                f = self._open(log, hour, bool(truncated))
            f.last_line = line_col[hi - 1]
            self.truth.add_folder(f.folder, log, n)
            self._submit(log, f, "add", line_col.slice(lo, n))
        for r in reasons:
            self.injected[r] = self.injected.get(r, 0) + 1

    def _open(self, log: str, hour: int, truncated: bool) -> _OpenFile:
        folder, name = zeek_writer.file_name(log, hour)
        path = self.lake.raw_path("zeek", self.sensor, folder, name)
        if folder not in self.folders:
            self.lake.raw_fs.makedirs(posixpath.dirname(path), exist_ok=True)
            self.folders.add(folder)
        if truncated:
            self.truth.add_injected(folder, log, "truncated_line")
            self.injected["truncated_line"] = self.injected.get("truncated_line", 0) + 1
        self.files += 1
        f = self.open[(log, hour)] = _OpenFile(path, folder, truncated=truncated)
        self._submit(log, f, "open", hour)
        return f

    def _close(self, log: str, hour: int, f: _OpenFile) -> None:
        del self.open[(log, hour)]
        tail = ""
        if f.truncated:
            tail = inject.truncated_tail(f.last_line)
            self.truth.add_folder(f.folder, log, 1)
        self._submit(log, f, "close", tail)

    def _submit(self, log: str, f: _OpenFile, what: str, arg) -> None:
        self.futures.append(self.pools[log].submit(self._run, log, f, what, arg))

    def _run(self, log: str, f: _OpenFile, what: str, arg) -> None:
        """One step of a file, on its log's thread."""
        if what == "open":
            f.sink = self.lake.raw_fs.open(f.path, "wb")
            f.out = zeek_writer.HourFile(log, self.fmt, arg, f.sink)
        elif what == "add":
            f.out.add(arg)
        else:
            f.out.finish(arg, f.truncated)
            f.sink.close()
            f.out = f.sink = None

    def _drain(self, keep: int = 0) -> None:
        while len(self.futures) > keep:
            self.futures.pop(0).result()

    def close(self) -> None:
        try:
            self._drain()
        finally:
            for f in self.open.values():
                if f.sink is not None:
                    f.sink.close()
            for pool in self.pools.values():
                pool.shutdown()


def _compact(df: pl.DataFrame) -> pl.DataFrame:
    """`df` with its strings in buffers of their own. A filtered string column still points
    into its source's buffers: the few records that wait for their end (hours, at most) would
    otherwise keep every earlier slice's strings alive, a memory that grows with the day."""
    return df.with_columns(pl.col(pl.String) + pl.lit(""))


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


def slices_per_day(sessions_per_day: int, whole_hours: bool = False) -> int:
    """Slices a day is drawn in; `whole_hours`: never finer than an hour."""
    options = SLICES if whole_hours else (*SLICES, *(24 * k for k in SLICES_PER_HOUR))
    for k in options:
        if sessions_per_day / k <= MAX_SESSIONS_PER_SLICE:
            return k
    return options[-1]


def day_slices(sessions_per_day: int, whole_hours: bool = False) -> list[DaySlice]:
    """The slices of a day, in order. The long connections (which run past midnight) are
    drawn by the slice that starts the day's last hour, or by the last slice if slices
    are longer: they start within that hour or slice."""
    k = slices_per_day(sessions_per_day, whole_hours)
    step = 1440 // k
    last_hour = min(23 * 60, 1440 - step)
    return [
        DaySlice(s, s * step, (s + 1) * step, long=s * step == last_hour, fine=k > 24)
        for s in range(k)
    ]


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
    slices = day_slices(spd)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    planted_counts: dict[tuple[bool, int, str], int] = {}
    try:
        for di, day in enumerate(days):
            day_us = (day - EPOCH).days * 86_400 * US
            for sl in slices:
                batch = gen.generate(day, sl)
                truth.add_sessions(batch.truth)
                for log in LOGS:
                    writer.add(log, getattr(batch, log))
                del batch
                writer.flush(day_us + sl.minute_hi * 60 * US)
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
