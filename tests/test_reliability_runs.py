"""Issue 12: killed runs are marked failed; a lock file a full disk left empty is cleaned up
on the next run instead of lingering."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from test_publishing import _step

from assets.lake import Lake
from workflows.run_sweep import fail_dead_runs

ROOT = Path(__file__).resolve().parent.parent


def test_a_full_disk_while_locking_leaves_no_empty_lock(tmp_path, monkeypatch):
    lake = Lake(str(tmp_path / "lake"))
    real_fdopen = os.fdopen

    class _Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: _Full(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space"), lake.lock("validated/conn/date=2017-04-01"):
        pass
    monkeypatch.undo()
    assert not list((tmp_path / "lake" / "_locks").rglob("*.lock"))


def test_stale_empty_lock_files_are_cleaned_on_the_next_run(tmp_path):
    step, lake, ctx = _step(tmp_path)
    locks = tmp_path / "lake" / "_locks" / "validated" / "conn"
    locks.mkdir(parents=True)
    empty = locks / "date=2017-04-01.lock"
    half = locks / "date=2017-04-02.lock"
    beat = locks / "date=2017-04-03.lock.beat-1234abcd"
    fresh = locks / "date=2017-04-04.lock"  # being created right now: left alone
    held = locks / "date=2017-04-05.lock"  # a real holder: judged by its heartbeat, not here
    empty.write_bytes(b"")
    half.write_bytes(b'{"tok')
    beat.write_bytes(b"{}")
    fresh.write_bytes(b"")
    held.write_bytes(b'{"token": "t", "host": "h", "pid": 1, "heartbeat": 0}')
    old = time.time() - 3600
    for p in (empty, half, beat, held):
        os.utime(p, (old, old))
    with step:
        pass
    assert sorted(p.name for p in locks.iterdir()) == [fresh.name, held.name]
    # a lock broken because its file was left empty can be taken again at once
    with lake.lock("validated/conn/date=2017-04-01", timeout=1):
        pass


def test_the_instance_config_fails_runs_it_cannot_see_alive():
    for name in ("dagster.yaml", "dagster.postgres.yaml"):
        config = yaml.safe_load((ROOT / "deploy" / name).read_text())["run_monitoring"]
        assert config["enabled"] and config["max_runtime_seconds"] > 0, name


_RUN = textwrap.dedent(
    """
    import time, dagster as dg
    from workflows.run_sweep import owner_tags

    @dg.op
    def sleep():
        print("started", flush=True)
        time.sleep(120)

    @dg.job
    def slow():
        sleep()

    slow.execute_in_process(instance=dg.DagsterInstance.get(), tags=owner_tags())
    """
)


def test_a_killed_run_is_marked_failed_on_the_next_run(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN], env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout is not None and "started" in proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait()
    instance = dg.DagsterInstance.from_config(str(home))
    (run,) = instance.get_runs()
    assert run.status == dg.DagsterRunStatus.STARTED  # what a kill -9 leaves behind
    assert fail_dead_runs(instance) == [run.run_id]
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert fail_dead_runs(instance) == []
