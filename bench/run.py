"""hermit benchmark (issue 7): a simulated day of N conn records through every layer, against
the floor (polars: read the logs, write Parquet) and zat's pandas reader, on the same files.

    uv run --group bench python bench/run.py [--records 40000000] [--only]
        [--layers all] [--keep DIR] [--profile validated:conn,categorised]

1M and 10M conn records by default; each --records adds a size (--only: just those given).

Every step runs in a fresh process (bench/measure.py), so each has its own peak RSS. The table
is printed with rich and written as JSON to bench/results/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.measure import StepResult, best_of, run_step  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
TABLES = ("conn", "dns", "ssl", "http")
ALL_LAYERS = ("floor", "zat", "validated", "categorised", "reporting", "chain", "dagster")
DEFAULT_DAY = "2017-05-10"
CALIBRATION_SESSIONS = 20_000
GIB = 1024.0
REPEAT_MAX_RECORDS = 2_000_000  # larger days run each step once (--repeat is for noise)

DEFAULT_RECORDS = (1_000_000, 10_000_000)

TARGETS = {
    "validated_vs_floor": 1.3,  # each log's validated step against that log's floor
    "chain_vs_floor_all": 2.0,  # raw -> reporting against all four logs' floor
    "zat_speedup": 6.0,
    "peak_mib_10m": 1.5 * GIB,  # every layer step, and the whole chain, at 10M
    "peak_growth_10m_40m": 1.2,  # a step's peak at 40M against its peak at 10M
    "ge_share": 0.20,
    "dagster_overhead_s": 3.0,
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def check(step: str, res: StepResult) -> StepResult:
    if res.ok:
        log(f"  {step}: {res.seconds:.2f} s, peak {res.peak_mib:.0f} MiB, {res.rows:,} rows")
    else:
        log(f"  {step}: FAILED (peak {res.peak_mib:.0f} MiB)\n{res.error}")
    return res


# ---- data --------------------------------------------------------------------------------------
def sessions_for(records: int, work: Path, day: str, seed: int) -> tuple[int, float]:
    """sessions_per_day that gives about `records` conn records (from a small calibration day,
    cached beside the data)."""
    cache = work / "calibration.json"
    if cache.exists():
        ratio = json.loads(cache.read_text())["conn_per_session"]
    else:
        lake = work / "calibration"
        res = check(
            "calibrate",
            run_step(
                "simulate",
                {"lake": str(lake), "day": day, "sessions": CALIBRATION_SESSIONS, "seed": seed},
            ),
        )
        if not res.ok or not res.rows:
            raise SystemExit("simulator failed during calibration")
        ratio = res.rows / CALIBRATION_SESSIONS
        shutil.rmtree(lake, ignore_errors=True)
        cache.write_text(json.dumps({"conn_per_session": ratio}))
    return max(1, round(records / ratio)), ratio


def generate(records: int, work: Path, day: str, seed: int) -> tuple[Path, StepResult | None]:
    """The day's raw logs for `records` (reused when `work` already holds them)."""
    lake = work / f"n{records}" / "lake"
    manifest = lake.parent / "manifest.json"
    if manifest.exists() and json.loads(manifest.read_text()).get("seed") == seed:
        log(f"reusing raw logs in {lake}")
        return lake, None
    shutil.rmtree(lake.parent, ignore_errors=True)
    sessions, ratio = sessions_for(records, work, day, seed)
    log(f"simulating {day}: {sessions:,} sessions (~{ratio:.3f} conn per session)")
    res = check(
        "simulate",
        run_step("simulate", {"lake": str(lake), "day": day, "sessions": sessions, "seed": seed}),
    )
    if not res.ok:
        raise SystemExit("simulator failed")
    manifest.write_text(json.dumps({"seed": seed, "sessions": sessions, **res.info}))
    return lake, res


def clear_outputs(lake: Path) -> None:
    for zone in ("validated", "quarantine", "categorised", "reporting", "_staging", "_locks"):
        shutil.rmtree(lake / zone, ignore_errors=True)


# ---- one N -------------------------------------------------------------------------------------
def bench_records(records: int, args, work: Path) -> dict:
    layers = set(args.layers)
    profile = set(args.profile)
    profile_dir = RESULTS_DIR / "profiles" / f"n{records}"
    lake, sim = generate(records, work, args.day, args.seed)
    raw = str(lake / "raw")
    out_dir = lake.parent / "out"
    out_dir.mkdir(exist_ok=True)
    clear_outputs(lake)
    res: dict[str, StepResult] = {}
    if sim is not None:
        res["simulate"] = sim

    def run(name: str, step: str, a: dict, profile_key: str | None = None) -> StepResult:
        pdir = profile_dir if (profile_key or name) in profile else None
        repeat = args.repeat if records <= REPEAT_MAX_RECORDS else 1
        res[name] = check(name, best_of(step, a, repeat, profile_dir=pdir))
        return res[name]

    base = {"lake": str(lake), "raw": raw, "day": args.day}
    if "floor" in layers or "zat" in layers:
        run("floor", "floor", {**base, "out": str(out_dir / "floor_conn.parquet")})
        for t in TABLES[1:]:  # each log's own floor, for its validated step
            out = str(out_dir / f"floor_{t}.parquet")
            run(f"floor:{t}", "floor", {**base, "logs": [t], "out": out})
        run(
            "floor_all",
            "floor",
            {**base, "logs": list(TABLES), "out": str(out_dir / "floor_all.parquet")},
        )
    if "zat" in layers:
        plain = out_dir / "plain_conn"
        shutil.rmtree(plain, ignore_errors=True)
        run("inflate", "inflate", {**base, "plain_dir": str(plain)})
        run(
            "floor_plain",
            "floor",
            {**base, "plain_dir": str(plain), "out": str(out_dir / "floor_plain.parquet")},
        )
        run("zat", "zat", {**base, "plain_dir": str(plain), "out": str(out_dir / "zat.parquet")})
        shutil.rmtree(plain, ignore_errors=True)
    if layers & {"validated", "categorised", "reporting"}:
        for t in TABLES:
            run(f"validated:{t}", "layer", {**base, "layer": f"validated:{t}"})
    if layers & {"categorised", "reporting"}:
        run("categorised", "layer", {**base, "layer": "categorised"})
    if "reporting" in layers:
        if "categorised" in res and not res["categorised"].ok:
            log("  reporting: skipped (categorised failed)")
        else:
            run("reporting", "layer", {**base, "layer": "reporting"})
    if "chain" in layers:
        clear_outputs(lake)
        run("chain", "layer", {**base, "layer": "chain"})
    if not args.keep:
        shutil.rmtree(out_dir, ignore_errors=True)
    return {"records": records, "raw": sim.info if sim else None, "steps": res}


def bench_dagster(args, work: Path) -> StepResult:
    lake, _ = generate(args.dagster_records, work, args.day, args.seed)
    clear_outputs(lake)
    log(f"dagster overhead on a {args.dagster_records:,}-record partition")
    return check(
        "dagster",
        run_step(
            "dagster",
            {"lake": str(lake), "raw": str(lake / "raw"), "day": args.day},
            profile_dir=RESULTS_DIR / "profiles" if "dagster" in args.profile else None,
        ),
    )


# ---- report ------------------------------------------------------------------------------------
def _layer_total(steps: dict[str, StepResult], names: list[str]) -> tuple[float, float, float]:
    got = [steps[n] for n in names if n in steps and steps[n].ok]
    if len(got) != len(names):
        return 0.0, 0.0, 0.0
    return (
        sum(r.seconds for r in got),
        max(r.peak_mib for r in got),
        sum(r.phases.get("ge_checks", 0.0) for r in got),
    )


def rows_table(run: dict) -> list[dict]:
    """One row per step (plus the validated layer's total) with the ratios to the floor."""
    steps: dict[str, StepResult] = run["steps"]
    floor = steps.get("floor")
    floor_s = floor.seconds if floor and floor.ok else 0.0
    floor_all = steps.get("floor_all")
    zat = steps.get("zat")
    rows = []
    order = [
        "simulate", "floor", *[f"floor:{t}" for t in TABLES[1:]], "floor_all", "floor_plain", "zat",
        *[f"validated:{t}" for t in TABLES], "categorised", "reporting", "chain",
    ]  # fmt: skip
    for name in order:
        r = steps.get(name)
        if r is None:
            continue
        ge = r.phases.get("ge_checks", 0.0)
        rows.append(
            {
                "step": name,
                "ok": r.ok,
                "seconds": r.seconds,
                "cpu_seconds": r.cpu_seconds,
                "load_before": round(r.load_before, 2),
                "rows": r.rows,
                "rows_per_s": r.rows_per_s,
                "peak_mib": r.peak_mib,
                "x_floor": r.seconds / floor_s if floor_s and r.ok and name != "simulate" else None,
                "ge_share": ge / r.seconds if r.ok and r.seconds else None,
                "phases": r.phases,
                "info": r.info,
                "error": r.error,
            }
        )
        if name == "validated:http":
            s, peak, ge = _layer_total(steps, [f"validated:{t}" for t in TABLES])
            if s:
                n_all = sum(steps[f"validated:{t}"].rows for t in TABLES)
                fa = floor_all.seconds if floor_all and floor_all.ok else 0.0
                rows.append(
                    {
                        "step": "validated (4 logs)",
                        "ok": True,
                        "seconds": s,
                        "cpu_seconds": sum(steps[f"validated:{t}"].cpu_seconds for t in TABLES),
                        "rows": n_all,
                        "rows_per_s": n_all / s,
                        "peak_mib": peak,
                        "x_floor": s / floor_s if floor_s else None,
                        "x_floor_all": s / fa if fa else None,
                        "ge_share": ge / s,
                        "phases": {},
                        "info": {},
                        "error": "",
                    }
                )
    if zat and zat.ok:
        for row in rows:
            if row["ok"] and row["seconds"]:
                row["zat_speedup"] = zat.seconds / row["seconds"]
    return rows


def _cpu_note(a: StepResult, b: StepResult) -> str:
    if a.cpu_seconds and b.cpu_seconds:
        return f"CPU-time ratio {a.cpu_seconds / b.cpu_seconds:.2f}"
    return ""


def verdicts(runs: list[dict], dagster: StepResult | None) -> list[dict]:
    out = []

    def add(target: str, limit: str, measured: float | None, holds: bool | None, note: str = ""):
        out.append(
            {"target": target, "limit": limit, "measured": measured, "holds": holds, "note": note}
        )

    def fmt_n(n: int) -> str:
        return f"{n / 1e6:g}M"

    for run in runs:
        s: dict[str, StepResult] = run["steps"]
        n = fmt_n(run["records"])

        def ok(k: str, s=s) -> bool:
            return k in s and s[k].ok

        for t in TABLES:
            fl = "floor" if t == "conn" else f"floor:{t}"
            if ok(fl) and ok(f"validated:{t}"):
                r = s[f"validated:{t}"].seconds / s[fl].seconds
                add(
                    f"validated {t} / floor {t} ({n})",
                    "<= 1.3",
                    r,
                    r <= TARGETS["validated_vs_floor"],
                    _cpu_note(s[f"validated:{t}"], s[fl]),
                )
        if ok("floor_all") and all(ok(f"validated:{t}") for t in TABLES):
            tot = sum(s[f"validated:{t}"].seconds for t in TABLES)
            r = tot / s["floor_all"].seconds
            add(
                f"validated 4 logs / floor 4 logs ({n})",
                "<= 1.3",
                r,
                r <= TARGETS["validated_vs_floor"],
                "same work on all four logs",
            )
        if ok("floor_all") and ok("chain"):
            r = s["chain"].seconds / s["floor_all"].seconds
            add(
                f"raw->reporting / floor_all ({n})",
                "<= 2",
                r,
                r <= TARGETS["chain_vs_floor_all"],
                _cpu_note(s["chain"], s["floor_all"]),
            )
        if ok("zat") and ok("validated:conn"):
            r = s["zat"].seconds / s["validated:conn"].seconds
            add(
                f"zat / validated conn ({n})",
                ">= 6",
                r,
                r >= TARGETS["zat_speedup"],
                "zat reads pre-inflated files",
            )
        if ok("zat") and ok("chain"):
            r = s["zat"].seconds / s["chain"].seconds
            add(f"zat conn / raw->reporting ({n})", "info", r, None, "whole chain, 4 logs")
        if run["records"] >= 1_000_000:
            for k in ("validated:conn", "validated:dns", "categorised", "reporting"):
                if ok(k) and s[k].seconds:
                    share = s[k].phases.get("ge_checks", 0.0) / s[k].seconds
                    add(f"GE share of {k} ({n})", "<= 20%", share, share <= TARGETS["ge_share"])
    for run in runs:
        if run["records"] >= 10_000_000:
            s = run["steps"]
            layer_peak = max(
                (
                    s[k].peak_mib
                    for k in s
                    if k.startswith(("validated:", "categ", "report")) and s[k].ok
                ),
                default=None,
            )
            limit = TARGETS["peak_mib_10m"]
            if layer_peak:
                add(
                    f"peak per layer step ({fmt_n(run['records'])})",
                    f"<= {limit:.0f} MiB",
                    layer_peak,
                    layer_peak <= limit,
                )
            if "chain" in s and s["chain"].ok:
                add(
                    f"peak whole chain, one process ({fmt_n(run['records'])})",
                    f"<= {limit:.0f} MiB",
                    s["chain"].peak_mib,
                    s["chain"].peak_mib <= limit,
                )
    for step, lo_n, hi_n, grow in peak_growth(runs):
        add(
            f"peak growth {fmt_n(lo_n)}->{fmt_n(hi_n)} ({step})",
            f"<= {TARGETS['peak_growth_10m_40m']:g}x",
            grow,
            grow <= TARGETS["peak_growth_10m_40m"],
            "a bounded step's peak does not grow with the day",
        )
    if dagster is not None and dagster.ok:
        o = dagster.info["overhead_s"]
        add(
            "Dagster overhead per partition run",
            "<= 3 s",
            o,
            o <= TARGETS["dagster_overhead_s"],
            f"first run in the process: {dagster.info['overhead_first_s']:.2f} s",
        )
    return out


_GROWN_STEPS = ("validated:", "categorised", "reporting", "chain")


def peak_growth(runs: list[dict]) -> list[tuple[str, int, int, float]]:
    """(step, smaller N, larger N, peak ratio) for each layer step measured at 10M and at a
    larger N (the largest), or, without 10M, at the two largest sizes."""
    sizes = sorted(r["records"] for r in runs)
    if len(sizes) < 2:
        return []
    lo_n = 10_000_000 if 10_000_000 in sizes and sizes[-1] > 10_000_000 else sizes[-2]
    hi_n = sizes[-1]
    by_n = {r["records"]: r["steps"] for r in runs}
    out = []
    for step, res in by_n[hi_n].items():
        low = by_n[lo_n].get(step)
        if step.startswith(_GROWN_STEPS) and res.ok and low is not None and low.ok:
            out.append((step, lo_n, hi_n, res.peak_mib / low.peak_mib))
    return out


def print_report(runs: list[dict], dagster: StepResult | None, meta: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    console.print(
        f"[bold]hermit benchmark[/bold]  {meta['machine']}  polars {meta['polars']}  "
        f"day {meta['day']}  seed {meta['seed']}"
    )
    for run in runs:
        if not run["steps"]:
            continue
        t = Table(title=f"N = {run['records']:,} conn records")
        for col in (
            "step",
            "seconds",
            "cpu s",
            "rows",
            "rows/s",
            "peak MiB",
            "x floor",
            "zat/x",
            "GE share",
        ):
            t.add_column(col, justify="left" if col == "step" else "right")
        for row in rows_table(run):
            if not row["ok"]:
                t.add_row(row["step"], "FAILED", "", "", "", f"{row['peak_mib']:.0f}", "", "", "")
                continue
            t.add_row(
                row["step"],
                f"{row['seconds']:.2f}",
                f"{row['cpu_seconds']:.2f}" if row.get("cpu_seconds") else "",
                f"{row['rows']:,}",
                f"{row['rows_per_s']:,.0f}",
                f"{row['peak_mib']:.0f}",
                f"{row['x_floor']:.2f}" if row.get("x_floor") else "",
                f"{row['zat_speedup']:.1f}" if row.get("zat_speedup") else "",
                f"{row['ge_share']:.0%}" if row.get("ge_share") else "",
            )
        console.print(t)
    if dagster is not None:
        if dagster.ok:
            i = dagster.info
            console.print(
                f"Dagster: layer work {i['layer_work_s']:.2f} s, job runs "
                + ", ".join(f"{x:.2f}" for x in i["dagster_runs_s"])
                + f" s -> overhead {i['overhead_s']:.2f} s per partition run "
                f"(first run {i['overhead_first_s']:.2f} s); imports "
                f"{dagster.phases.get('import_dagster', 0):.2f} s, definitions "
                f"{dagster.phases.get('definitions', 0):.2f} s"
            )
        else:
            console.print("[red]Dagster step failed[/red]")
            console.print(dagster.error, markup=False, highlight=False)
    v = Table(title="targets (ratios of wall seconds from this one run)")
    for col in ("target", "limit", "measured", "verdict", "note"):
        v.add_column(col)
    for row in verdicts(runs, dagster):
        m = row["measured"]
        measured = f"{m:.0%}" if "%" in row["limit"] else f"{m:.2f}"
        verdict = {True: "[green]holds[/green]", False: "[red]misses[/red]", None: ""}[row["holds"]]
        v.add_row(row["target"], row["limit"], measured, verdict, row["note"])
    console.print(v)
    for run in runs:
        for name, r in run["steps"].items():
            if not r.ok:
                console.print(f"[red]{name} failed (N={run['records']:,}):[/red]")
                console.print(r.error, markup=False, highlight=False)


def machine() -> str:
    import os

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    except OSError:
        mem = 0.0
    cpu = cpu or platform.processor()
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--records",
        type=int,
        action="append",
        help="conn records per day, added to 1M and 10M (repeatable)",
    )
    ap.add_argument("--only", action="store_true", help="only the --records sizes given")
    ap.add_argument("--layers", default="all", help=f"comma list of {','.join(ALL_LAYERS)} or all")
    ap.add_argument(
        "--keep", type=Path, help="keep generated logs and outputs here (and reuse them)"
    )
    ap.add_argument("--day", default=DEFAULT_DAY)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--repeat", type=int, default=1, help="run each measured step k times, keep the fastest"
    )
    ap.add_argument("--dagster-records", type=int, default=20_000)
    ap.add_argument(
        "--profile", default="", help="steps to run under cProfile (e.g. validated:conn,chain)"
    )
    args = ap.parse_args(argv)
    given = args.records or []
    args.records = sorted(set(given) if args.only and given else {*DEFAULT_RECORDS, *given})
    args.layers = ALL_LAYERS if args.layers == "all" else tuple(args.layers.split(","))
    unknown = set(args.layers) - set(ALL_LAYERS)
    if unknown:
        ap.error(f"unknown layers {sorted(unknown)}")
    args.profile = tuple(p for p in args.profile.split(",") if p)

    import polars as pl

    meta = {
        "machine": machine(),
        "polars": pl.__version__,
        "day": args.day,
        "seed": args.seed,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    tmp = None
    if args.keep:
        work = args.keep.resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="hermit-bench-")
        work = Path(tmp.name)
    try:
        runs = []
        for n in args.records:
            log(f"N = {n:,} (work dir {work})")
            runs.append(bench_records(n, args, work))
        dagster = bench_dagster(args, work) if "dagster" in args.layers else None
    finally:
        if tmp is not None:
            tmp.cleanup()
    print_report(runs, dagster, meta)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"bench-{stamp}.json"
    doc = {
        "meta": meta,
        "runs": [{"records": r["records"], "raw": r["raw"], "steps": rows_table(r)} for r in runs],
        "dagster": dagster.__dict__ if dagster else None,
        "targets": verdicts(runs, dagster),
    }
    path.write_text(json.dumps(doc, indent=2, default=str))
    log(f"results written to {path}")
    return 0 if all(r["steps"][k].ok for r in runs for k in r["steps"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
