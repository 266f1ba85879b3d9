"""`hermit demo --flows`: the 2017 scenario end to end from flows alone, unsampled and 1:100.

Each flow run has its own lake (`<lake>/demo-flows/<label>`) whose raw zone holds only the
nfcapd files a real nfcapd wrote for the simulated router exports (and an empty Zeek zone, as
a flows-only deployment has); the daily pipeline and the period report run on it as on the
Zeek lake. The table puts each planted figure beside the Zeek run's and the flow runs'.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass

import fsspec
import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from assets.lake import Lake
from assets.report.flow_fidelity import CANNOT, FlowFigure, Unnamed, unnamed_services

RATES = (1, 100)


@dataclass
class FlowRun:
    rate: int
    lake_root: str
    headline: dict
    unnamed: list[Unnamed]
    sessions: int
    report_path: str


def flow_lake_root(lake: Lake, rate: int) -> str:
    return f"{lake.root}/demo-flows/{'unsampled' if rate == 1 else f'sampled-{rate}'}"


def run_flow_demo(
    lake: Lake,
    *,
    sessions_per_day: int | None,
    seed: int,
    rate: int,
    console: Console,
    start: dt.date | None = None,
    end: dt.date | None = None,
    instance=None,
) -> FlowRun:
    """Simulate the router exports at 1:`rate`, run every layer and the report on them."""
    from assets.simulate.run_flows import simulate_flows
    from workflows.backfill import materialize_range
    from workflows.cli import _days_bar as days_bar
    from workflows.cli import print_flow_simulation
    from workflows.report_run import materialize_report

    root = flow_lake_root(lake, rate)
    fs, path = fsspec.core.url_to_fs(root)
    if fs.exists(path):
        fs.rm(path, recursive=True)  # a fresh lake: nothing left from an earlier demo
    flake = Lake(root)
    flake.raw_fs.makedirs(flake.raw_path("zeek"), exist_ok=True)  # flows only: no Zeek logs
    with days_bar() as progress:
        sim = simulate_flows(
            flake,
            sessions_per_day=sessions_per_day,
            seed=seed,
            sampling=rate,
            progress=progress,
            start=start,
            end=end,
        )
    print_flow_simulation(sim)
    run = materialize_range(
        sim.start,
        sim.end,
        lake_root=root,
        per_day=False,
        progress=True,
        engine="in_process",
        instance=instance,
        console=console,
    )
    if not run.ok:
        raise RuntimeError(f"the pipeline failed on the 1:{rate} flows lake {root}")
    label = "unsampled" if rate == 1 else f"sampled_{rate}"
    meta = materialize_report(
        sim.start.isoformat(),
        sim.end.isoformat(),
        name=f"demo_2017_flows_{label}",
        lake_root=root,
        instance=instance,
    )
    truth = json.loads(flake.raw_fs.cat_file(sim.ground_truth_path))
    sessions = _outbound_sessions(flake, sim.start, sim.end)
    return FlowRun(
        rate=rate,
        lake_root=root,
        headline={k: v for k, v in meta.items() if k not in ("path", "start", "end", "days")},
        unnamed=_unnamed(truth, sessions, seed),
        sessions=sessions.height,
        report_path=str(meta["path"]),
    )


def _outbound_sessions(lake: Lake, start: dt.date, end: dt.date) -> pl.DataFrame:
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    frames = []
    for day in days:
        part = lake.read_partition(
            "categorised", "sessions", day, columns=["direction", "remote_ip", "service"]
        )
        if part is not None:
            frames.append(part.filter(pl.col("direction") == "outbound"))
    if not frames:
        return pl.DataFrame(schema={"direction": pl.String, "remote_ip": pl.String,
                                    "service": pl.String})  # fmt: skip
    return pl.concat(frames)


def _unnamed(truth: dict, sessions: pl.DataFrame, seed: int) -> list[Unnamed]:
    """The planted services the flow run never named, with what it named their addresses."""
    from assets.simulate.population import build_population, ips_to_str
    from assets.simulate.scenario import load_scenario

    sc = load_scenario()  # the demo's scenario
    pop = build_population(sc, seed)
    address_of: dict[str, str] = {}
    for i, plan in enumerate(sc.services):
        if plan.kind_mix["port"] >= 1.0:
            continue  # port-only services are named by their ports, at peers' addresses
        named = pop.host_ips[pop.svc_host_off[i] : pop.svc_host_off[i] + pop.svc_host_n[i]]
        bare = pop.bare_ip[pop.svc_bare_off[i] : pop.svc_bare_off[i] + pop.svc_bare_n[i]]
        for ip in ips_to_str(np.concatenate([named.ravel(), bare])).to_list():
            address_of[ip] = plan.name
    planted = (
        sessions.with_columns(planted=pl.col("remote_ip").replace_strict(address_of, default=None))
        .filter(pl.col("planted").is_not_null())
        .group_by("planted", "service")
        .len()
    )
    named: dict[str, dict[str, int]] = defaultdict(dict)
    for p, s, n in planted.iter_rows():
        named[p][s or "Unknown"] = n
    owners = {
        plan.name: f"{plan.hosting_owner.orgs[0]}, {plan.hosting_owner.owner}"
        for plan in sc.services
        if plan.hosting_owner is not None
    }
    categories = {plan.name: plan.category for plan in sc.services}
    counts = {
        name: n
        for name, n in truth["period"]["service_counts"].items()
        if name in address_of.values()
    }
    return unnamed_services(counts, categories, named, owners)


def print_flow_table(console: Console, rows: list[FlowFigure], runs: list[FlowRun]) -> None:
    table = Table(title="the study from flows: found vs planted", show_lines=True)
    table.add_column("figure")
    table.add_column("planted", justify="right")
    table.add_column("Zeek", justify="right")
    for run in runs:
        label = "flows" if run.rate == 1 else f"flows 1:{run.rate}"
        table.add_column(label, justify="right")
        table.add_column("error")
    for r in rows:
        cells = [r.figure, _fmt(r.planted), _fmt(r.zeek)]
        for run in runs:
            got = r.found.get(run.rate)
            ok = r.ok.get(run.rate)
            cells.append("[yellow]cannot[/]" if got == CANNOT else _fmt(got))
            mark = "" if ok is None else (" ok" if ok else " [red]off[/]")
            cells.append(f"{r.error.get(run.rate, '')}{mark}")
        table.add_row(*cells)
    console.print(table)
    for r in rows:
        for note in r.notes:
            console.print(f"[bold]{r.figure}[/] {note}")
    for run in runs:
        console.print(
            f"(1:{run.rate}) {run.sessions:,} outbound sessions from flows; lake {run.lake_root}; "
            f"report {run.report_path}"
        )
    if any(run.rate > 1 for run in runs):
        console.print(
            "sampled flows: a session exists only if one of its packets was sampled, so short "
            "sessions (DNS-sized lookups, scanner probes, beacon check-ins) mostly vanish and "
            "shares of sessions lean towards long, heavy ones; counts and bytes are estimates "
            "scaled by the rate (nfcapd applied it once)"
        )


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
