"""Run one benchmark step in a fresh Python process and measure it.

The child (`bench/steps.py`) times its own work after its imports and writes a JSON result;
the parent reads the child's peak resident set from `os.wait4` (ru_maxrss of that child
only, so every step gets its own peak, not the running maximum over all children).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
STEPS = BENCH_DIR / "steps.py"
# Bytecode cache for the children, outside the repo. The environment this was first run in had
# PYTHONDONTWRITEBYTECODE=1 and a venv without __pycache__, so every process recompiled
# Great Expectations (~12 s) and Dagster (~3 s) from source; a normal install caches it.
PYCACHE = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hermit-bench" / "pycache"
)
MEM_LIMIT_GIB = float(os.environ.get("HERMIT_BENCH_MEM_LIMIT_GIB", "16"))


def _limit_memory() -> None:
    # A step that outgrows the machine fails alone instead of waking the OOM killer.
    limit = int(MEM_LIMIT_GIB * 2**30)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


@dataclass
class StepResult:
    step: str
    ok: bool
    seconds: float  # the work, timed inside the child (no interpreter start, no imports)
    wall: float  # the whole child process, timed by the parent
    peak_mib: float  # the child's peak RSS
    rows: int = 0
    phases: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    error: str = ""
    cpu_seconds: float = 0.0  # process CPU of the work (all threads)
    load_before: float = 0.0  # 1-minute load average when the step started (noise indicator)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def run_step(step: str, args: dict, *, profile_dir: Path | None = None) -> StepResult:
    """Run `steps.py <step>` with `args` (JSON) in a new process; never raises for a failed
    step (the table shows it as failed, with the error's last lines)."""
    with tempfile.TemporaryDirectory(prefix="hermit-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(STEPS), step, json.dumps(args), str(out)]
        if profile_dir is not None:
            cmd.append(str(profile_dir))
        env = dict(
            os.environ,
            PYTHONPYCACHEPREFIX=str(PYCACHE),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        env.setdefault("GX_ANALYTICS_ENABLED", "false")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        err_path = Path(tmp) / "stderr.txt"
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=err, stderr=err, preexec_fn=_limit_memory
            )
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        peak_mib = usage.ru_maxrss / 1024  # Linux reports KiB
        if proc.returncode != 0 or not out.exists():
            tail = err_path.read_text(errors="replace").strip().splitlines()[-15:]
            return StepResult(
                step, False, 0.0, wall, peak_mib, error="\n".join(tail), load_before=load
            )
        data = json.loads(out.read_text())
        return StepResult(
            step,
            True,
            float(data["seconds"]),
            wall,
            peak_mib,
            int(data.get("rows", 0)),
            data.get("phases", {}),
            data.get("info", {}),
            cpu_seconds=float(data.get("cpu_seconds", 0.0)),
            load_before=load,
        )


def best_of(step: str, args: dict, repeat: int, **kw) -> StepResult:
    """The fastest of `repeat` runs (wall time of the work), with the highest peak seen."""
    runs = [run_step(step, args, **kw) for _ in range(max(1, repeat))]
    good = [r for r in runs if r.ok]
    if not good:
        return runs[-1]
    best = min(good, key=lambda r: r.seconds)
    best.peak_mib = max(r.peak_mib for r in good)
    best.info = {**best.info, "runs_s": [round(r.seconds, 3) for r in good]}
    return best
