"""The `hermit` command: what Dagster's UI and `dg` do not cover.

    hermit demo          simulate the 2017 scenario, run every layer via Dagster, write the report
hermit simulate      write raw Zeek logs, or a router's NetFlow exports collected by nfcapd
                     (--format netflow), and their ground truth, for a scenario
hermit materialize   run the daily pipeline for a date range, with progress and a summary
hermit report        write the period report (HTML + figures) for a date range
hermit taxonomy      unknown: a period's top unnamed domains; check: validate a taxonomy
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time

from rich.console import Console
from rich.table import Table

from assets.config import Settings
from assets.lake import Lake

console = Console()


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {value!r}") from exc


def _lake(args) -> Lake:
    s = Settings.from_env()
    root = getattr(args, "lake", None) or s.lake
    raw = s.raw if not getattr(args, "lake", None) else None
    return Lake(root, raw)


class _days_bar:
    """A progress bar over simulated days; yields the callback simulate() reports to."""

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.bar = Progress(
            "[bold]simulating",
            BarColumn(),
            MofNCompleteColumn(),
            "days",
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task("days", total=None)
        return lambda done, total: self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc):
        self.bar.stop()


def cmd_simulate(args) -> int:
    from assets.simulate.run import simulate

    lake = _lake(args)
    if args.format == "netflow":
        return _simulate_netflow(args, lake)
    if args.sampling != 1:
        raise ValueError("--sampling applies to --format netflow only")
    with _days_bar() as progress:
        summary = simulate(
            lake,
            progress=progress,
            scenario=args.scenario,
            start=args.start,
            end=args.end,
            sessions_per_day=args.sessions_per_day,
            seed=args.seed,
            fmt=args.format,
            inject_rate=args.inject_rate,
            sensor=args.sensor,
        )
    console.print(f"[bold]simulated[/] into {lake.raw_root}")
    _print_simulation(summary)
    return 0


def _simulate_netflow(args, lake: Lake) -> int:
    from assets.simulate.run_flows import simulate_flows

    if args.inject_rate:
        raise ValueError("--inject-rate applies to Zeek logs only")
    with _days_bar() as progress:
        sim = simulate_flows(
            lake,
            progress=progress,
            scenario=args.scenario,
            start=args.start,
            end=args.end,
            sessions_per_day=args.sessions_per_day,
            seed=args.seed,
            sampling=args.sampling,
            exporter=args.exporter,
        )
    console.print(f"[bold]simulated[/] into {lake.raw_root}")
    print_flow_simulation(sim)
    return 0


def print_flow_simulation(sim) -> None:
    rate = "unsampled" if sim.sampling == 1 else f"1:{sim.sampling} packet sampling"
    console.print(
        f"{sim.start}..{sim.end}, {sim.sessions_per_day:,} sessions/day, seed {sim.seed}, "
        f"{rate}: {sim.connections:,} border connections as {sim.flows:,} NetFlow v9 flows in "
        f"{sim.packets:,} export packets, collected by nfcapd into {sim.files:,} hourly files "
        f"({sim.seconds:.1f} s)"
    )
    console.print(f"ground truth: {sim.ground_truth_path}")


def _print_simulation(sim) -> None:
    rows = ", ".join(f"{log} {n:,}" for log, n in sim.rows.items())
    console.print(
        f"{sim.start}..{sim.end}, {sim.sessions_per_day:,} sessions/day, seed {sim.seed}: "
        f"{rows} records in {sim.files:,} files, {sim.seconds:.1f} s "
        f"({sim.rows_per_second:,.0f} rows/s)"
    )
    if sim.injected:
        console.print(f"injected quarantine cases: {sim.injected}")
    console.print(f"ground truth: {sim.ground_truth_path}")


def cmd_materialize(args) -> int:
    from workflows.backfill import materialize_range

    summary = materialize_range(
        args.start,
        args.end,
        lake_root=args.lake,
        per_day=not args.single_run,
        progress=True,
        engine="in_process" if args.in_process else "daemon",
    )
    return 0 if summary.ok else 1


def cmd_report(args) -> int:
    from assets.report.build import check_report_name
    from workflows.report_run import materialize_report

    check_report_name(args.name)
    compare = None
    if args.compare_start or args.compare_end:
        if not (args.compare_start and args.compare_end):
            raise ValueError("--compare-start and --compare-end go together")
        compare = (args.compare_start.isoformat(), args.compare_end.isoformat())
    meta = materialize_report(
        args.start.isoformat() if args.start else "",
        args.end.isoformat() if args.end else "",
        name=args.name,
        compare=compare,
        lake_root=args.lake,
    )
    console.print(f"report: {meta['path']} ({meta['days']} days)")
    _print_headline(_headline(meta))
    return 0


def _headline(meta: dict) -> dict:
    """The headline figures from the report asset's metadata (the rest is where and when)."""
    return {k: v for k, v in meta.items() if k not in ("path", "start", "end", "days")}


def cmd_demo(args) -> int:
    from assets.simulate.run import simulate
    from workflows.backfill import materialize_range
    from workflows.report_run import materialize_report

    lake = _lake(args)
    t0 = time.perf_counter()
    console.rule("1/3 simulate the 2017 scenario")
    with _days_bar() as progress:
        sim = simulate(
            lake, sessions_per_day=args.sessions_per_day, seed=args.seed, progress=progress
        )
    _print_simulation(sim)
    start, end = sim.start, sim.end
    console.rule(f"2/3 materialise every layer {start}..{end} through Dagster")
    run = materialize_range(
        start, end, lake_root=args.lake, per_day=False, progress=True, engine="daemon"
    )
    if not run.ok:
        console.print("[red]the pipeline failed; see the summary above[/]")
        return 1
    console.rule("3/3 period report")
    meta = materialize_report(
        start.isoformat(), end.isoformat(), name="demo_2017", lake_root=args.lake
    )
    console.print(f"report: [bold]{meta['path']}[/]")
    truth = _ground_truth(lake, sim)
    _print_headline(_headline(meta), truth)
    if args.flows:
        _demo_flows(args, lake, _headline(meta), truth)
    console.print(f"demo finished in {time.perf_counter() - t0:.0f} s; lake: {lake.root}")
    console.print("browse it: `make dev` (Dagster UI), or query the Parquet with DuckDB (README)")
    return 0


def _demo_flows(args, lake: Lake, zeek: dict, truth: dict) -> None:
    """The same scenario from router exports alone, unsampled and 1:100 (`--flows`)."""
    from assets.reference.questions import load_questions
    from assets.reference.resource import ReferenceResource
    from assets.report.fidelity import planted_headline
    from assets.report.flow_fidelity import flow_fidelity
    from workflows.demo_flows import RATES, print_flow_table, run_flow_demo

    runs = []
    for i, rate in enumerate(RATES):
        what = "unsampled" if rate == 1 else f"1:{rate} packet-sampled"
        console.rule(f"flows {i + 1}/{len(RATES)}: the scenario as {what} NetFlow v9 exports")
        runs.append(
            run_flow_demo(
                lake,
                sessions_per_day=args.sessions_per_day,
                seed=args.seed,
                rate=rate,
                console=console,
            )  # fmt: skip
        )
    reference = ReferenceResource()
    categories = {s.name: s.category for s in reference.get().taxonomy.service_list}
    planted = planted_headline(truth, categories, load_questions(reference.file_path("networks")))
    rows = flow_fidelity(
        planted, zeek, {r.rate: r.headline for r in runs}, {r.rate: r.unnamed for r in runs}
    )
    print_flow_table(console, rows, runs)


def _ground_truth(lake: Lake, sim) -> dict:
    path = getattr(sim, "ground_truth_path", None)
    if not path:
        return {}
    try:
        return json.loads(lake.raw_fs.cat_file(path))
    except FileNotFoundError:
        return {}


def _print_headline(headline: dict, truth: dict | None = None) -> None:
    if not headline:
        return
    table = Table(title="what the pipeline found")
    table.add_column("figure")
    table.add_column("found", justify="right")
    if truth:
        from assets.reference.questions import load_questions
        from assets.reference.resource import ReferenceResource
        from assets.report.fidelity import compare_headline, planted_headline

        reference = ReferenceResource()  # the configured files, as the pipeline used them
        categories = {s.name: s.category for s in reference.get().taxonomy.service_list}
        questions = load_questions(reference.file_path("networks"))
        rows = compare_headline(headline, planted_headline(truth, categories, questions))
        table.add_column("planted", justify="right")
        table.add_column("recovered")
        for r in rows:
            table.add_row(r.figure, _fmt(r.found), _fmt(r.planted), "yes" if r.ok else "[red]NO[/]")
    else:
        for key, value in headline.items():
            table.add_row(key, _fmt(value))
    console.print(table)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hermit", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="simulate, materialise every layer, write the report")
    demo.add_argument("--lake", help="lake root (default: $HERMIT_LAKE or ./data_lake)")
    demo.add_argument("--sessions-per-day", type=int, default=None)
    demo.add_argument("--seed", type=int, default=2017)
    demo.add_argument(
        "--flows",
        action="store_true",
        help="then run the scenario from NetFlow exports alone (unsampled and 1:100, through a "
        "real nfcapd; lakes under <lake>/demo-flows/) and print each figure beside the Zeek run's",
    )
    demo.set_defaults(func=cmd_demo)

    sim = sub.add_parser("simulate", help="write raw Zeek logs for a scenario")
    sim.add_argument("--lake", help="lake root (raw logs go to <lake>/raw or $HERMIT_RAW)")
    sim.add_argument("--scenario", help="scenario YAML (default: the 2017 study)")
    sim.add_argument("--start", type=_date)
    sim.add_argument("--end", type=_date)
    sim.add_argument("--sessions-per-day", type=int)
    sim.add_argument("--seed", type=int, default=2017)
    sim.add_argument(
        "--format",
        choices=["tsv", "json", "netflow"],
        default="tsv",
        help="Zeek TSV or JSON logs, or netflow: NetFlow v9 exports sent to a real nfcapd "
        "(needs Debian's nfdump package) and filed under <raw>/flows/<exporter>/<date>/",
    )
    sim.add_argument(
        "--sampling",
        type=int,
        default=1,
        metavar="N",
        help="with --format netflow: 1:N packet sampling, announced to the collector (default 1)",
    )
    sim.add_argument("--exporter", default="pyongyang-border", help="with --format netflow")
    sim.add_argument(
        "--inject-rate",
        type=float,
        default=0.0,
        help="share of records turned into quarantine cases (0..1)",
    )
    sim.add_argument("--sensor", default="pyongyang-tap")
    sim.set_defaults(func=cmd_simulate)

    mat = sub.add_parser("materialize", help="run the daily pipeline for a date range")
    mat.add_argument("--start", type=_date, required=True)
    mat.add_argument("--end", type=_date, required=True)
    mat.add_argument("--lake")
    mat.add_argument(
        "--single-run",
        action="store_true",
        help="with --in-process: one run for the whole range (default: one run per day)",
    )
    mat.add_argument(
        "--in-process",
        action="store_true",
        help="run in this process instead of submitting a backfill to the daemon",
    )
    mat.set_defaults(func=cmd_materialize)

    rep = sub.add_parser("report", help="write the period report")
    rep.add_argument("--start", type=_date)
    rep.add_argument("--end", type=_date)
    rep.add_argument("--compare-start", type=_date)
    rep.add_argument("--compare-end", type=_date)
    rep.add_argument("--name", default="period_report")
    rep.add_argument("--lake")
    rep.set_defaults(func=cmd_report)

    from workflows import taxonomy_cli

    taxonomy_cli.add_parser(sub, _date, _lake)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:  # ReferenceDataError is a ValueError
        console.print(f"[red]hermit {args.command}: {exc}[/]")
        return 2


if __name__ == "__main__":
    sys.exit(main())
