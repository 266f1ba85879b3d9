"""Runs whose process was killed are marked failed, not left STARTED forever.

The daemon's run monitoring (deploy/dagster*.yaml, `max_runtime_seconds`) covers every run
while a daemon runs; hermit's own commands execute in-process, often with no daemon at all,
so each of their runs is tagged with its host and pid, and the next `hermit materialize` marks
failed the tagged runs of this host whose process is gone.
"""

from __future__ import annotations

import os
import socket

import dagster as dg

from assets.storage import pid_alive

HOST_TAG = "hermit/host"
PID_TAG = "hermit/pid"
_UNFINISHED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]


def owner_tags() -> dict[str, str]:
    """Tags naming the process that executes a run in-process (read by `fail_dead_runs`)."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every unfinished run of this host whose executing process is gone; returns
    their run ids."""
    host = socket.gethostname()
    failed = []
    records = instance.get_run_records(dg.RunsFilter(statuses=_UNFINISHED, tags={HOST_TAG: host}))
    for record in records:
        run = record.dagster_run
        pid = run.tags.get(PID_TAG, "")
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        instance.report_run_failed(
            run, f"the process that ran it (pid {pid} on {host}) is gone: killed or crashed"
        )
        failed.append(run.run_id)
    return failed
