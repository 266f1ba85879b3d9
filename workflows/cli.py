"""The `hermit` command: what Dagster's UI and `dg` do not cover.

    hermit demo          simulate the 2017 scenario, run every layer via Dagster, write the report
hermit simulate      write raw Zeek logs (and their ground truth) for a scenario
hermit materialize   run the daily pipeline for a date range, with progress and a summary
hermit report        write the period report (HTML + figures) for a date range
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


def cmd_simulate(args) -> int:
    from assets.simulate.run import simulate

    lake = _lake(args)
    summary = simulate(
        lake,
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
        args.start, args.end, lake_root=args.lake, per_day=not args.single_run, progress=True
    )
    return 0 if summary.ok else 1


def cmd_report(args) -> int:
    from assets.report.build import build_period_report, check_report_name, parse_period

    check_report_name(args.name)
    lake = _lake(args)
    start, end = parse_period(lake, args.start, args.end)
    compare = None
    if args.compare_start or args.compare_end:
        compare = parse_period(lake, args.compare_start, args.compare_end)
    out = build_period_report(lake, start, end, name=args.name, compare=compare)
    console.print(f"report: {out.html} ({out.days} days)")
    _print_headline(out.headline)
    return 0


def cmd_demo(args) -> int:
    from assets.report.build import build_period_report
    from assets.simulate.run import simulate
    from workflows.backfill import materialize_range

    lake = _lake(args)
    t0 = time.perf_counter()
    console.rule("1/3 simulate the 2017 scenario")
    sim = simulate(lake, sessions_per_day=args.sessions_per_day, seed=args.seed)
    _print_simulation(sim)
    start, end = sim.start, sim.end
    console.rule(f"2/3 materialise every layer {start}..{end} through Dagster")
    run = materialize_range(start, end, lake_root=args.lake, per_day=False, progress=True)
    if not run.ok:
        console.print("[red]the pipeline failed; see the summary above[/]")
        return 1
    console.rule("3/3 period report")
    out = build_period_report(lake, start, end, name="demo_2017")
    console.print(f"report: [bold]{out.html}[/]")
    _print_headline(out.headline, _ground_truth(lake, sim))
    console.print(f"demo finished in {time.perf_counter() - t0:.0f} s; lake: {lake.root}")
    console.print("browse it: `make dev` (Dagster UI), or query the Parquet with DuckDB (README)")
    return 0


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
        from assets.reference.loaders import load_taxonomy
        from assets.report.fidelity import compare_headline, planted_headline

        categories = {s.name: s.category for s in load_taxonomy().service_list}
        rows = compare_headline(headline, planted_headline(truth, categories))
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
    demo.set_defaults(func=cmd_demo)

    sim = sub.add_parser("simulate", help="write raw Zeek logs for a scenario")
    sim.add_argument("--lake", help="lake root (raw logs go to <lake>/raw or $HERMIT_RAW)")
    sim.add_argument("--scenario", help="scenario YAML (default: the 2017 study)")
    sim.add_argument("--start", type=_date)
    sim.add_argument("--end", type=_date)
    sim.add_argument("--sessions-per-day", type=int)
    sim.add_argument("--seed", type=int, default=2017)
    sim.add_argument("--format", choices=["tsv", "json"], default="tsv")
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
        help="one Dagster run for the whole range (default: one run per day)",
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        console.print(f"[red]hermit {args.command}: {exc}[/]")
        return 2


if __name__ == "__main__":
    sys.exit(main())
