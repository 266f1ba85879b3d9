"""Flow benchmark (issue 14): read + validate one day of N flows, against a floor that merely
reads the same files and writes Parquet; then sessions from those flows, categorised.

    uv run python bench/flows.py --records 1000000 [--records 10000000]

The input is nfdump CSV in the 1.7.5 layout (`nfdump -o csv` of a router's day), written here
with polars as 24 hourly files of one exporter: nfdump has no tool that writes flows from a
description, and feeding 10M flows to a real nfcapd over loopback would measure the UDP
path, not hermit. Every step runs in a fresh process (its own peak RSS, from os.wait4).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DAY = dt.date(2017, 5, 10)
EXPORTER = "border-router"
HEADER = "firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows"


def generate(raw: Path, records: int, seed: int = 7) -> None:
    """24 hourly nfdump CSV files of `records` flows in all (a few per mille damaged)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    folder = raw / "flows" / EXPORTER / DAY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    per_hour = records // 24
    for hour in range(24):
        n = per_hour if hour < 23 else records - per_hour * 23
        base = dt.datetime(DAY.year, DAY.month, DAY.day, hour)
        us = np.sort(rng.integers(0, 3_600_000_000, n))
        start = pl.Series(us).cast(pl.Duration("us")) + base
        local = rng.integers(0, 1024, n)
        remote = rng.integers(0, 2**32, n, dtype=np.uint64)
        frame = pl.DataFrame(
            {
                "firstSeen": start.dt.strftime("%Y-%m-%d %H:%M:%S%.3f"),
                "duration": (rng.exponential(8.0, n)).round(3),
                "proto": rng.choice(["TCP", "UDP", "ICMP"], n, p=[0.7, 0.28, 0.02]),
                "srcAddr": [f"175.45.{176 + (x >> 8) % 4}.{x & 255}" for x in local],
                "srcPort": rng.integers(1024, 65536, n),
                "dstAddr": [
                    f"{x >> 24}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}" for x in remote
                ],
                "dstPort": rng.choice([443, 80, 53, 8333, 6881, 123], n),
                "packets": rng.integers(1, 2000, n),
                "bytes": rng.integers(40, 2_000_000, n),
                "flows": np.ones(n, dtype=np.int64),
            }
        )
        bad = rng.random(n) < 0.002  # bad addresses, a few rows, to exercise the quarantine
        frame = frame.with_columns(
            pl.when(pl.Series(bad)).then(pl.lit("not-an-ip")).otherwise("srcAddr").alias("srcAddr")
        )
        frame.write_csv(folder / f"nfdump.{DAY:%Y%m%d}{hour:02d}00.csv")


# ---- steps (run in a child process) ------------------------------------------------------------
def step_floor(raw: Path, out: Path) -> int:
    import polars as pl

    files = sorted((raw / "flows" / EXPORTER / DAY.isoformat()).glob("*.csv"))
    frames = [pl.read_csv(f, infer_schema=False) for f in files]
    day = pl.concat(frames)
    day.write_parquet(out / "floor.parquet", compression="zstd")
    return day.height


def step_validated(raw: Path, out: Path) -> tuple[int, dict]:
    """The validated_flows asset's work for one day: read, validate, both GE suites on the
    chunks and the staged partitions published."""
    from assets.flows.day import stage_flows
    from assets.flows.raw import collect_flow_files
    from assets.lake import Lake

    lake = Lake(str(out / "lake"), raw_root=str(raw))
    phases = {}
    t = time.perf_counter()
    files = collect_flow_files(lake, DAY, 1)
    staged = stage_flows(lake, DAY, files, 1)
    phases["stage"] = time.perf_counter() - t
    for outcome in (staged.valid_outcome, staged.quarantine_outcome):
        if not outcome.success:
            raise SystemExit(outcome.summary())
    t = time.perf_counter()
    staged.valid.publish()
    staged.quarantine.publish()
    phases["publish"] = time.perf_counter() - t
    c = staged.counts
    assert (
        c["raw_records"]
        == c["valid"] + c["quarantined"] - c["from_later_folders"] + c["to_earlier_partitions"]
    )
    return c["raw_records"], phases | {"quarantined": c["quarantined"]}


def step_categorised(raw: Path, out: Path) -> tuple[int, dict]:
    """The validated step's partition -> the categorised day (flow sessions merged and
    categorised, the suite on the chunks), staged and published (no dns log)."""
    from assets.categorised.day import stage_day
    from assets.lake import Lake
    from assets.reference.loaders import load_reference

    lake = Lake(str(out.parent / "validated" / "lake"), raw_root=str(raw))
    reference = load_reference()
    t = time.perf_counter()
    staged = stage_day(lake, DAY, reference)
    assert staged is not None
    phases = {"stage": time.perf_counter() - t}
    staged.writer.publish()
    records = staged.result.sources["validated_flows"]
    assert records == lake.partition_rows("validated", "flows", DAY)
    sessions = staged.result.sources["sessions_flow"]
    return records, phases | {"sessions": sessions}


STEPS = {"floor": lambda raw, out: (step_floor(raw, out), {}), "validated": step_validated}
STEPS["categorised"] = step_categorised


def child(step: str, raw: Path, out: Path, result: Path) -> None:
    if step in ("validated", "categorised"):
        import assets.quality.ge_runner  # noqa: F401  (imported before the clock starts)

    t = time.perf_counter()
    rows, info = STEPS[step](raw, out)
    result.write_text(json.dumps({"seconds": time.perf_counter() - t, "rows": rows, "info": info}))


def run(step: str, raw: Path, work: Path) -> dict:
    out = work / step
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    result = out / "result.json"
    cmd = [sys.executable, __file__, "--child", step, str(raw), str(out), str(result)]
    env = dict(os.environ, GX_ANALYTICS_ENABLED="false")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"step {step} failed")
    data = json.loads(result.read_text())
    data["peak_mib"] = usage.ru_maxrss / 1024
    data["cpu_s"] = usage.ru_utime + usage.ru_stime
    return data


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, action="append", help="flows in the day (repeatable)")
    ap.add_argument("--work", help="scratch directory (default: a temporary one)")
    ap.add_argument(
        "--steps",
        default="floor,validated,categorised",
        help="steps to run, in order (categorised reads the validated step's partition)",
    )
    args = ap.parse_args()
    names = {
        "floor": "floor (read CSV, write Parquet)",
        "validated": "validated:flows",
        "categorised": "categorised (flows only)",
    }
    results = []
    for records in args.records or [1_000_000]:
        work = Path(args.work or tempfile.mkdtemp(prefix="hermit-flows-bench-"))
        raw = work / "raw"
        marker = work / f"generated-{records}"
        if not marker.exists():  # a --work directory keeps its day for the next run
            shutil.rmtree(raw, ignore_errors=True)
            t = time.perf_counter()
            generate(raw, records)
            marker.touch()
            print(f"generated {records:,} flows in {time.perf_counter() - t:.1f} s", flush=True)
        done = {step: run(step, raw, work) for step in args.steps.split(",")}
        for step, r in done.items():
            line = {
                "records": records,
                "step": names[step],
                "seconds": round(r["seconds"], 2),
                "cpu_s": round(r["cpu_s"], 1),
                "rows_per_s": round(r["rows"] / r["seconds"]),
                "peak_mib": round(r["peak_mib"]),
                **r["info"],
            }
            if "floor" in done:
                line["x_floor"] = round(r["seconds"] / done["floor"]["seconds"], 2)
            results.append(line)
            print(json.dumps(line), flush=True)
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"flows-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
