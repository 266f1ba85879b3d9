"""The Dagster daemon that carries out backfills, queued runs, schedules and sensors.

`hermit materialize` and the demo submit real backfills to the instance; something has to
execute them. When a daemon is already running on the instance (`dg dev`, a deployment), that
one does; otherwise hermit starts one for the duration of the command and stops it after."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HEARTBEAT_FRESH_SECONDS = 60
START_TIMEOUT_SECONDS = 120


def daemon_running(instance: dg.DagsterInstance) -> bool:
    """A backfill daemon has sent a heartbeat to this instance within the last minute."""
    beats = instance.get_daemon_heartbeats()
    now = time.time()
    return any(
        name == "BACKFILL" and now - beat.timestamp < HEARTBEAT_FRESH_SECONDS
        for name, beat in beats.items()
    )


@contextlib.contextmanager
def ensure_daemon(
    instance: dg.DagsterInstance, env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[bool]:
    """Yield with a daemon serving `instance`; True if this call started it (and stops it)."""
    if daemon_running(instance):
        yield False
        return
    home = instance.root_directory
    child_env = {**os.environ, **(env or {}), "DAGSTER_HOME": str(home)}
    child_env.setdefault("PYTHONWARNINGS", "ignore")
    out = open(log or Path(home) / "hermit-daemon.log", "ab")  # noqa: SIM115 - lives with the child
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dagster-daemon")),
            "run",
            "-w",
            str(PROJECT_ROOT / "deploy" / "workspace.yaml"),
            "--log-level",
            "warning",
        ],
        cwd=PROJECT_ROOT,
        env=child_env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.time() + START_TIMEOUT_SECONDS
        while not daemon_running(instance):
            if proc.poll() is not None:
                raise RuntimeError(f"the Dagster daemon exited ({proc.returncode}); see {out.name}")
            if time.time() > deadline:
                raise RuntimeError(f"the Dagster daemon did not start; see {out.name}")
            time.sleep(0.5)
        yield True
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.close()
