"""A throwaway Celery cluster on loopback for tests: Debian's redis-server as broker and result
backend, and `dagster-celery worker start` processes, each stopped with its process group."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CELERY_RUN_CONFIG = PROJECT_ROOT / "deploy" / "executors" / "celery.yaml"
VENV_BIN = Path(sys.executable).parent  # dagster-celery runs `celery` from PATH


def redis_server_binary() -> str | None:
    # Debian's package installs it in /usr/bin, which a minimal PATH may lack
    return shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin")


def stop_group(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the process group `proc` leads (started with start_new_session), wait at most
    `grace` seconds for all of it to go, then SIGKILL what is left."""
    pgid = proc.pid
    with suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()
        if not _group_alive(pgid):
            break
        time.sleep(0.1)
    else:
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


@contextmanager
def redis_server(port: int, workdir: Path, timeout: float = 15.0) -> Iterator[str]:
    """redis-server on 127.0.0.1:`port` without persistence; yields its URL (database 0)."""
    import redis

    binary = redis_server_binary()
    assert binary, "no redis-server"
    workdir.mkdir(parents=True, exist_ok=True)
    log = open(workdir / "redis.log", "wb")  # noqa: SIM115 (closed below)
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(workdir)]
    args += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(workdir / 'redis.log').read_text()}")
            try:
                if client.ping():
                    break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        client.close()
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop_group(proc, grace=10)
        log.close()


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen
    log: Path

    def pids(self) -> set[int]:
        """The worker's processes now: `dagster-celery`, the celery main process, its pool."""
        return {self.proc.pid} | _descendants(self.proc.pid)


def worker_command(name: str, concurrency: int = 1) -> list[str]:
    """The command docs/operations.md gives for a worker (one pool process per worker here)."""
    return [
        str(VENV_BIN / "dagster-celery"),
        "worker",
        "start",
        "-A",
        "dagster_celery.app",
        "-y",
        str(CELERY_RUN_CONFIG),
        "-n",
        name,
        "--",
        f"--concurrency={concurrency}",
    ]


@contextmanager
def celery_workers(
    names: list[str], env: Mapping[str, str], logdir: Path, timeout: float = 90.0
) -> Iterator[list[Worker]]:
    """Start one worker per name (each its own process group) and wait until every one says it
    is ready; stop them all on the way out, also on failure."""
    logdir.mkdir(parents=True, exist_ok=True)
    workers: list[Worker] = []
    handles = []
    try:
        for name in names:
            log = logdir / f"{name}.log"
            handle = open(log, "wb")  # noqa: SIM115 (closed below)
            handles.append(handle)
            proc = subprocess.Popen(
                worker_command(name),
                env=dict(env),
                cwd=PROJECT_ROOT,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            workers.append(Worker(name, proc, log))
        deadline = time.monotonic() + timeout
        waiting = {w.name for w in workers}
        while waiting:
            for w in workers:
                if w.name not in waiting:
                    continue
                text = w.log.read_text(errors="replace")
                if w.proc.poll() is not None:
                    raise RuntimeError(f"worker {w.name} exited:\n{text[-3000:]}")
                if any(f"{w.name}@" in ln and ln.endswith(" ready.") for ln in text.splitlines()):
                    waiting.discard(w.name)
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(f"workers not ready after {timeout:.0f} s: {sorted(waiting)}")
            time.sleep(0.2)
        yield workers
    finally:
        for w in workers:
            stop_group(w.proc)
        for handle in handles:
            handle.close()


def _processes() -> Iterator[tuple[int, str, int, int]]:
    """(pid, state, ppid, process group) of every process, from /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its last paren
        state, ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        yield int(entry.name), state, int(ppid), int(pgrp)


def _group_alive(pgid: int) -> bool:
    # zombies do not count: whoever inherited them may never reap them
    return any(g == pgid and s != "Z" for _, s, _, g in _processes())


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for child, _, ppid, _ in _processes():
        children.setdefault(ppid, []).append(child)
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found
