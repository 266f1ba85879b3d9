"""`simulate --format netflow`: the scenario's days as a border router's NetFlow v9 exports,
collected by a real nfcapd into the flows raw zone, with the same ground truth as the Zeek run.

The sessions are the Zeek simulator's (same scenario, seed and generator: the same
connections, addresses, sizes and times); each connection crossing the border becomes the
flows an exporter emits (assets/simulate/flow_export.py), packed into export packets
(netflow_v9.py) and sent over UDP on 127.0.0.1 to nfcapd (collector.py), one nfcapd file
per export hour: `<raw>/flows/<exporter>/<YYYY-MM-DD>/nfcapd.YYYYMMDDhh00`, the folder being
the UTC day of the hour the flows were exported in.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assets.simulate.collector import collect_hour
from assets.simulate.flow_export import ACTIVE_TIMEOUT_S, FLOW_COLUMNS, border_flows, ip_ints
from assets.simulate.ground_truth import TruthAccumulator, to_json
from assets.simulate.netflow_v9 import ExportState, packets
from assets.simulate.run import SimulationPlan, day_slices
from assets.simulate.sessions import EPOCH, US
from assets.simulate.suspect import truth_entries

HOUR_MS = 3_600_000
EXPORTER = "pyongyang-border"


@dataclass
class FlowSimulationSummary:
    start: dt.date
    end: dt.date
    sessions_per_day: int
    seed: int
    sampling: int
    exporter: str
    connections: int  # connections crossing the border
    flows: int  # flow records exported (after sampling)
    packets: int  # export datagrams sent
    files: int
    seconds: float
    ground_truth_path: str
    folders: list[str] = field(default_factory=list)


class _HourlyExporter:
    """Holds flows until their export hour is over, then has nfcapd collect that hour."""

    def __init__(self, lake, exporter: str, sampling: int, boot_ms: int, truth):
        self.lake, self.exporter, self.sampling, self.truth = lake, exporter, sampling, truth
        self.state = ExportState(boot_ms=boot_ms, source_id=0)
        self.pending: dict[str, np.ndarray] | None = None
        self.flows = self.datagrams = self.files = 0
        self.folders: set[str] = set()

    def add(self, flows: dict[str, np.ndarray]) -> None:
        if self.pending is None:
            self.pending = flows
        else:
            self.pending = {c: np.concatenate([self.pending[c], flows[c]]) for c in FLOW_COLUMNS}

    def flush(self, boundary_ms: int | None) -> None:
        """Collect every hour that ends at or before `boundary_ms` (None: all)."""
        if self.pending is None or len(self.pending["src"]) == 0:
            return
        p = self.pending
        order = np.argsort(p["export_ms"], kind="stable")
        p = {c: v[order] for c, v in p.items()}
        hours = p["export_ms"] // HOUR_MS
        ready = np.ones(len(hours), bool) if boundary_ms is None else (
            (hours + 1) * HOUR_MS <= boundary_ms
        )  # fmt: skip
        for hour in np.unique(hours[ready]):
            rows = np.flatnonzero(hours == hour)
            self._collect(int(hour), {c: v[rows] for c, v in p.items()})
        self.pending = {c: v[~ready] for c, v in p.items()}

    def _collect(self, hour: int, flows: dict[str, np.ndarray]) -> None:
        datagrams = packets(flows, self.state, self.sampling)
        data = collect_hour(datagrams, len(flows["src"]))
        t = dt.datetime(1970, 1, 1) + dt.timedelta(hours=hour)
        folder = t.date().isoformat()
        path = self.lake.raw_path("flows", self.exporter, folder, f"nfcapd.{t:%Y%m%d%H%M}")
        if folder not in self.folders:
            self.lake.raw_fs.makedirs(posixpath.dirname(path), exist_ok=True)
            self.folders.add(folder)
        self.lake.raw_fs.pipe_file(path, data)
        self.truth.add_folder(folder, "flows", len(flows["src"]))
        self.flows += len(flows["src"])
        self.datagrams += len(datagrams)
        self.files += 1


def simulate_flows(
    lake,
    *,
    scenario: str | Path | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    sessions_per_day: int | None = None,
    seed: int = 2017,
    sampling: int = 1,
    exporter: str = EXPORTER,
    progress: Callable[[int, int], None] | None = None,
    taxonomy: str | Path | None = None,
) -> FlowSimulationSummary:
    """Write the scenario's days as nfcapd files under `<raw>/flows/<exporter>/<date>/` and
    its ground truth at `<raw>/flows/<exporter>/ground_truth.json`."""
    t0 = time.perf_counter()
    if sampling < 1:
        raise ValueError("sampling must be >= 1 (1: every packet)")
    plan = SimulationPlan.build(scenario, taxonomy, start, end, sessions_per_day, seed)
    sc, start, end, spd, pop, gen = plan.sc, plan.start, plan.end, plan.spd, plan.pop, plan.gen
    truth = TruthAccumulator(sc)
    # the router booted a day before the first exported flow
    boot_ms = ((start - EPOCH).days - 1) * 86_400_000
    out = _HourlyExporter(lake, exporter, sampling, boot_ms, truth)
    slices = day_slices(spd, whole_hours=True)  # the exporter holds flows by whole hours
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    planted_counts: dict[tuple[bool, int, str], int] = {}
    connections = 0
    for di, day in enumerate(days):
        day_us = (day - EPOCH).days * 86_400 * US
        for sl in slices:
            batch = gen.generate(day, sl)
            truth.add_sessions(batch.truth)
            rng = np.random.default_rng([seed, 0x666C6F77, day.toordinal(), sl.no])
            flows = border_flows(batch.conn, pop.local_nets, sampling=sampling, rng=rng)
            connections += _crossing(batch.conn, pop)
            out.add(flows)
            out.flush((day_us + sl.minute_hi * 60 * US) // 1000)
        planted_counts.update(plan.planted_counts(day))
        if progress:
            progress(di + 1, len(days))
    out.flush(None)

    meta = {
        "scenario": sc.name,
        "scenario_file": Path(sc.source).name,
        "exporter": exporter,
        "seed": seed,
        "format": "netflow",
        "export": {
            "protocol": "NetFlow v9",
            "collector": "nfcapd",
            "active_timeout_s": ACTIVE_TIMEOUT_S,
            "sampling": sampling,
            "flows": out.flows,
        },
        "start": start.isoformat(),
        "end": end.isoformat(),
        "sessions_per_day": spd,
    }
    doc = truth.build(meta)
    doc["suspect"] = truth_entries(sc.suspect, pop.planted, start, end, planted_counts)
    gt_path = lake.raw_path("flows", exporter, "ground_truth.json")
    lake.raw_fs.makedirs(posixpath.dirname(gt_path), exist_ok=True)
    lake.raw_fs.pipe_file(gt_path, to_json(doc))
    return FlowSimulationSummary(
        start=start,
        end=end,
        sessions_per_day=spd,
        seed=seed,
        sampling=sampling,
        exporter=exporter,
        connections=connections,
        flows=out.flows,
        packets=out.datagrams,
        files=out.files,
        seconds=round(time.perf_counter() - t0, 3),
        ground_truth_path=gt_path,
        folders=sorted(out.folders),
    )


def _crossing(conn, pop) -> int:
    a = pop.local_nets.owner_of(ip_ints(conn["id.orig_h"])) >= 0
    b = pop.local_nets.owner_of(ip_ints(conn["id.resp_h"])) >= 0
    return int((a != b).sum())
