"""Benchmark steps, each run by `bench/measure.py` in a fresh process:

    python bench/steps.py STEP ARGS_JSON RESULT_JSON [PROFILE_DIR]

A step imports what it needs, warms what is a one-time per-process cost (Great Expectations'
import and context, the reference data) in timed phases of their own, then times its work and
writes {"seconds", "rows", "phases", "info"} to RESULT_JSON. With PROFILE_DIR the timed work
runs under cProfile and the stats land there.

The layer steps call the same functions as the Dagster assets (collect_raw_files,
stage_day: the validated day streamed into staged partitions and audited on its chunks;
categorise, build_reporting_tables, LayerStep.publish_day: Great Expectations audit, then
the lake's atomic write), minus Dagster itself.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import io
import json
import logging
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TABLES = ("conn", "dns", "ssl", "http")
LOG_NAMES = {"conn", "dns", "ssl", "http"}


class Clock:
    """Accumulates seconds per named phase."""

    def __init__(self):
        self.phases: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)  # process CPU (all threads)

    @contextmanager
    def phase(self, name: str):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.phases[name] += time.perf_counter() - t0
            self.cpu[name] += time.process_time() - c0

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*a, **kw):
            with self.phase(name):
                return fn(*a, **kw)

        return timed


# ---- raw files ---------------------------------------------------------------------------------
def raw_logs(raw_root: str, day: str, log: str) -> list[Path]:
    """The day's files of Zeek log `log`, every sensor, sorted."""
    from assets.zeek.names import log_name

    base = Path(raw_root) / "zeek"
    return sorted(p for p in base.glob(f"*/{day}/*") if p.is_file() and log_name(p.name) == log)


def count_records(path: Path) -> int:
    import gzip

    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    lines = data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
    comments = data.count(b"\n#") + (1 if data.startswith(b"#") else 0)
    return lines - comments


# ---- steps -------------------------------------------------------------------------------------
def step_simulate(a: dict, clock: Clock) -> dict:
    from assets.lake import Lake
    from assets.simulate.run import simulate

    lake = Lake(a["lake"], a.get("raw") or None)
    day = dt.date.fromisoformat(a["day"])
    with clock.phase("work"):
        simulate(lake, start=day, end=day, sessions_per_day=a["sessions"], seed=a["seed"])
    counts, files, size = {}, {}, 0
    raw = a.get("raw") or f"{a['lake']}/raw"
    for folder in sorted((Path(raw) / "zeek").glob("*/*")):
        for log in LOG_NAMES:
            for f in raw_logs(raw, folder.name, log):
                key = f"{folder.name}/{log}"
                counts[key] = counts.get(key, 0) + count_records(f)
                files[key] = files.get(key, 0) + 1
                size += f.stat().st_size
    conn = sum(v for k, v in counts.items() if k == f"{a['day']}/conn")
    return {"rows": conn, "info": {"records": counts, "files": files, "raw_bytes": size}}


def step_floor(a: dict, clock: Clock) -> dict:
    from bench.floor import logs_to_parquet

    out = Path(a["out"])
    if a.get("plain_dir"):
        groups = {out: sorted(Path(a["plain_dir"]).glob("*.log"))}
    else:  # one Parquet file per log, as the lake has one table per log
        logs = a.get("logs", ["conn"])
        groups = {
            out.with_name(f"{out.stem}-{log}.parquet") if len(logs) > 1 else out: raw_logs(
                a["raw"], a["day"], log
            )
            for log in logs
        }
    rows = 0
    with clock.phase("work"):
        for target, files in groups.items():
            rows += logs_to_parquet(files, target)
    return {
        "rows": rows,
        "info": {
            "files": sum(len(f) for f in groups.values()),
            "parquet_bytes": sum(t.stat().st_size for t in groups),
        },
    }


def step_inflate(a: dict, clock: Clock) -> dict:
    from bench.zat_baseline import inflate_logs

    files = raw_logs(a["raw"], a["day"], "conn")
    with clock.phase("work"):
        plain = inflate_logs(files, Path(a["plain_dir"]))
    return {"rows": 0, "info": {"files": len(plain), "bytes": sum(p.stat().st_size for p in plain)}}


def step_zat(a: dict, clock: Clock) -> dict:
    from bench.zat_baseline import zat_to_parquet

    plain = sorted(Path(a["plain_dir"]).glob("*.log"))
    out = Path(a["out"])
    with clock.phase("work"):
        rows = zat_to_parquet(plain, out)
    return {"rows": rows, "info": {"files": len(plain), "parquet_bytes": out.stat().st_size}}


class _Pipeline:
    """The layers' work as the Dagster assets do it, with phase timing hooks."""

    def __init__(self, a: dict, clock: Clock):
        from assets.lake import Lake

        self.a, self.clock = a, clock
        self.lake = Lake(a["lake"], a.get("raw") or None)
        self.day = dt.date.fromisoformat(a["day"])
        self.lateness = int(a.get("lateness", 1))
        self.ctx = SimpleNamespace(log=logging.getLogger("hermit.bench"))
        self.rows: dict[str, int] = {}
        self.checks: dict[str, bool] = {}
        self.failed_checks: list[str] = []
        self._hooked = False

    def hook(self) -> None:
        """Time Great Expectations and the lake writes wherever the layer code calls them."""
        if self._hooked:
            return
        import assets.quality.chunked as chunked
        import assets.quality.ge_runner as ge
        from assets.lake import Lake

        ge.validate_frame = self.clock.wrap("ge_checks", ge.validate_frame)
        # the streamed layers audit on chunks: every GE run goes through _run_spec
        chunked._run_spec = self.clock.wrap("ge_checks", chunked._run_spec)
        Lake.write_partition = self.clock.wrap("write", Lake.write_partition)
        self._hooked = True

    def warm_ge(self) -> None:
        import polars as pl

        from assets.quality import ge_runner

        with self.clock.phase("ge_import"):
            ge_runner._gx_engine()
            # One tiny validation pays GE's remaining first-call costs (metric registry).
            ge_runner.validate_frame(pl.DataFrame({"x": [1]}), "validated.conn")

    def preload(self, layer: str) -> None:
        """Import the layer's modules before the clock starts (Dagster, polars plugins...)."""
        import importlib

        mods = ["dagster", "assets.publishing", "assets.lake"]
        if layer.startswith("validated") or layer in ("chain", "dagster"):
            mods += ["assets.validated.assets", "assets.validated.transform"]
        if layer in ("categorised", "chain", "dagster"):
            mods += ["assets.categorised.assets", "assets.categorised.sessions"]
        if layer in ("reporting", "chain", "dagster"):
            mods += ["assets.reporting.tables"]
        with self.clock.phase("import"):
            for m in mods:
                importlib.import_module(m)

    def publish(self, outputs) -> bool:
        """LayerStep.publish_day (audit, then write). A day that fails its audit is written
        anyway, so the layers above have input to measure; the failure is reported."""
        from assets.publishing import LayerStep

        step = LayerStep(self.ctx, self.lake, [o.key for o in outputs], {})
        ok = step.publish_day(self.day, outputs)
        if not ok:
            for o in outputs:
                self.lake.write_partition(o.zone, o.table, self.day, o.frame)
            failures = [f for v in step.verdicts.values() for d in v.values() for f in d.failures]
            self.failed_checks.extend(failures)
        for o in outputs:
            self.checks[f"{o.zone}/{o.table}"] = ok
        return ok

    def validated(self, table: str) -> int:
        """The validated asset's day: staged chunk by chunk and audited on the same chunks
        (stage_day), then published. A day that fails its audit is published anyway (the
        layers above need input to measure); the failure is reported."""
        from assets.validated.day import stage_day
        from assets.validated.inputs import collect_raw_files

        c = self.clock
        with c.phase(f"validated.{table}"):
            with c.phase("list"):
                files = collect_raw_files(self.lake, table, self.day, self.lateness)
            with c.phase("transform"):
                staged = stage_day(self.lake, table, self.day, files, self.lateness, 1)
            ok = staged.valid_outcome.success and staged.quarantine_outcome.success
            for outcome in (staged.valid_outcome, staged.quarantine_outcome):
                if not outcome.success:
                    self.failed_checks.append(outcome.summary())
            with (
                c.phase("write"),
                self.lake.lock_partitions(
                    [("validated", table, self.day), ("quarantine", table, self.day)]
                ),
            ):
                staged.quarantine.publish()
                staged.valid.publish()
            self.checks[f"validated/{table}"] = self.checks[f"quarantine/{table}"] = ok
        counts = {k: v for k, v in dict(staged.counts).items() if isinstance(v, int)}
        self.rows[f"validated.{table}"] = int(counts.get("raw_records", counts["valid"]))
        self.rows[f"valid.{table}"] = counts["valid"]
        self.rows[f"quarantined.{table}"] = counts["quarantined"]
        return counts["valid"]

    def categorised(self) -> int:
        """The categorised asset's day: conn categorised chunk by chunk into the staged
        sessions partition, audited on the same chunks (stage_day), then published."""
        import dagster as dg

        from assets.categorised.day import stage_day
        from assets.publishing import Output

        c, lake, day = self.clock, self.lake, self.day
        with c.phase("reference"):
            ref = self.reference()
        with c.phase("categorised"):
            with c.phase("transform"):
                staged = stage_day(lake, day, ref)
                if staged is None:
                    raise SystemExit(f"no validated/conn partition {day}: validated failed")
            if not staged.outcome.success:
                self.failed_checks.append(staged.outcome.summary())
            staged.writer.publish()  # published whatever the verdict: the next layer needs it
            self.checks["categorised/sessions"] = staged.outcome.success
            self.publish(
                [
                    Output(
                        dg.AssetKey(["categorised", "unknown_domains"]),
                        "categorised",
                        "unknown_domains",
                        staged.result.unknown,
                        self._suite("categorised.unknown_domains"),
                    )
                ]
            )
        self.rows["categorised"] = staged.result.conn_rows
        return staged.result.conn_rows

    def reporting(self) -> int:
        import dagster as dg

        from assets.publishing import Output
        from assets.reporting.tables import build_reporting_tables

        c, day = self.clock, self.day
        with c.phase("reporting"):
            # as the asset does: a lazy scan, so the read (only the columns the tables use)
            # happens inside the transform's query
            with (
                c.phase("transform"),
                self.lake.scan_partition("categorised", "sessions", day) as sessions,
            ):
                if sessions is None:
                    raise SystemExit(f"no categorised/sessions partition {day}: categorised failed")
                tables = build_reporting_tables(sessions, day=day)
            self.publish(
                [
                    Output(
                        dg.AssetKey(["reporting", t]),
                        "reporting",
                        t,
                        df,
                        self._suite(f"reporting.{t}"),
                    )
                    for t, df in tables.items()
                ]
            )
        self.rows["reporting"] = self.lake.partition_rows("categorised", "sessions", day) or 0
        return self.rows["reporting"]

    @staticmethod
    def _suite(name: str) -> str | None:
        from assets.quality.ge_runner import suite_path

        # Suites of reporting tables may not all exist yet; the Dagster asset names them all.
        return name if suite_path(name).is_file() else None

    _ref = None

    def reference(self):
        if _Pipeline._ref is None:
            from assets.reference.resource import ReferenceResource

            _Pipeline._ref = ReferenceResource().get()
        return _Pipeline._ref


def step_layer(a: dict, clock: Clock) -> dict:
    """One layer (validated:<table>, categorised, reporting) or the whole chain."""
    layer = a["layer"]
    p = _Pipeline(a, clock)
    p.preload(layer)
    p.warm_ge()
    p.hook()
    if layer == "categorised":
        with clock.phase("reference"):  # loaded once per process; not part of the work
            p.reference()
    with clock.phase("work"):
        if layer.startswith("validated:"):
            p.validated(layer.split(":", 1)[1])
            rows = p.rows[f"validated.{layer.split(':', 1)[1]}"]
        elif layer == "categorised":
            rows = p.categorised()
        elif layer == "reporting":
            rows = p.reporting()
        elif layer == "chain":
            with clock.phase("reference"):  # the chain pays it, as a Dagster run would
                p.reference()
            for t in TABLES:
                p.validated(t)
            p.categorised()
            p.reporting()
            rows = p.rows["validated.conn"]
        else:
            raise SystemExit(f"unknown layer {layer}")
    return {
        "rows": rows,
        "info": {"rows": p.rows, "published": p.checks, "failed_checks": p.failed_checks},
    }


def step_dagster(a: dict, clock: Clock) -> dict:
    """Dagster's overhead per partition run: the daily job materialised in-process with a real
    (temporary, on-disk) instance, minus the same layer work run directly in this process."""
    import tempfile

    with clock.phase("import_dagster"):
        import dagster as dg

        from assets.core.resources import LakeResource
        from workflows.definitions import build_definitions

    p = _Pipeline(a, clock)
    p.preload("dagster")
    p.warm_ge()
    with clock.phase("reference"):
        p.reference()

    def direct() -> float:
        t0 = time.perf_counter()
        for t in TABLES:
            p.validated(t)
        p.categorised()
        p.reporting()
        return time.perf_counter() - t0

    direct()  # warm: first-call costs of polars, GE suites, PSL, geo lookups
    work = min(direct(), direct())
    with clock.phase("definitions"):
        defs = build_definitions(lake=LakeResource(root=a["lake"], raw_root=a.get("raw", "")))
        job = defs.resolve_job_def("daily_pipeline")
    runs = []
    with tempfile.TemporaryDirectory(prefix="hermit-dagster-home-") as home:
        instance = dg.DagsterInstance.local_temp(tempdir=home)
        for _ in range(3):
            t0 = time.perf_counter()
            result = job.execute_in_process(
                instance=instance, partition_key=a["day"], raise_on_error=True
            )
            runs.append(time.perf_counter() - t0)
            assert result.success
        instance.dispose()
    clock.phases["work"] = work
    return {
        "rows": p.rows.get("validated.conn", 0),
        "info": {
            "layer_work_s": work,
            "dagster_runs_s": runs,
            "overhead_first_s": runs[0] - work,
            "overhead_s": min(runs[1:]) - work,
        },
    }


STEPS = {
    "simulate": step_simulate,
    "floor": step_floor,
    "inflate": step_inflate,
    "zat": step_zat,
    "layer": step_layer,
    "dagster": step_dagster,
}


def main(argv: list[str]) -> None:
    step, args, out = argv[0], json.loads(argv[1]), Path(argv[2])
    profile_dir = Path(argv[3]) if len(argv) > 3 else None
    logging.basicConfig(level=logging.WARNING)
    clock = Clock()
    if profile_dir is not None:
        prof = cProfile.Profile()
        prof.enable()
    result = STEPS[step](args, clock)
    if profile_dir is not None:
        prof.disable()
        profile_dir.mkdir(parents=True, exist_ok=True)
        name = f"{step}-{args.get('layer', args.get('name', step)).replace(':', '-')}"
        prof.dump_stats(profile_dir / f"{name}.prof")
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(40)
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(30)
        (profile_dir / f"{name}.txt").write_text(text.getvalue())
    result["seconds"] = clock.phases.get("work", 0.0)
    result["cpu_seconds"] = clock.cpu.get("work", 0.0)
    result["phases"] = dict(clock.phases)
    result["phases_cpu"] = dict(clock.cpu)
    out.write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
