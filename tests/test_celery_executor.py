"""A range of the daily pipeline through Dagster's celery executor, for real: Debian's
redis-server on loopback as broker and backend, two `dagster-celery` worker processes, a
persistent SQLite instance the run and the workers share, and the exact `dg launch` command of
docs/operations.md. Its steps run in the workers, and every table of every layer is identical,
row for row, to an in-process run of the same range launched the same way."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from celery_cluster import (
    CELERY_RUN_CONFIG,
    PROJECT_ROOT,
    VENV_BIN,
    celery_workers,
    redis_server,
    redis_server_binary,
    stop_group,
)
from conftest import free_port
from polars.testing import assert_frame_equal

from assets.lake import Lake
from assets.reporting.tables import REPORTING_TABLES
from assets.simulate.run import simulate

pytestmark = pytest.mark.celery

START, END = dt.date(2017, 5, 16), dt.date(2017, 5, 18)
DAYS = [START + dt.timedelta(days=i) for i in range((END - START).days + 1)]
SELECTION = "group:validated,group:categorised,group:reporting"
WORKERS = ["hermit-w1", "hermit-w2"]
# seconds: a wedged run fails the test instead of hanging it. A quiet machine needs about 30;
# one shared with other test suites (load 16 on 2 cores) took 123 once.
LAUNCH_TIMEOUT = 240
EXPECTED_TABLES = (
    {("validated", t) for t in ("conn", "dns", "ssl", "http")}
    | {("quarantine", t) for t in ("conn", "dns", "ssl", "http")}
    | {("categorised", "sessions"), ("categorised", "unknown_domains")}
    | {("reporting", t) for t in REPORTING_TABLES}
)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory) -> str:
    missing = None
    if not redis_server_binary():
        missing = "no redis-server (.ci/services.sh installs Debian's redis-server)"
    try:
        import dagster_celery  # noqa: F401
    except ImportError:
        missing = "dagster-celery is not installed (uv sync installs hermit[celery])"
    if missing:
        if os.environ.get("HERMIT_REQUIRE_SERVICES"):
            pytest.fail(missing)  # CI must not pass by skipping the celery test
        pytest.skip(missing)
    with redis_server(free_port(), tmp_path_factory.mktemp("redis")) as url:
        yield url


def _environment(home: Path, lake: Path, executor: str, redis: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMIT_", "DAGSTER_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(VENV_BIN.parent),
        DAGSTER_HOME=str(home),
        HERMIT_LAKE=str(lake),
        HERMIT_EXECUTOR=executor,
    )
    if redis:
        # deploy/executors/celery.yaml reads these: tasks on db 0, results on db 1
        env["DAGSTER_CELERY_BROKER_URL"] = f"{redis}/0"
        env["DAGSTER_CELERY_BACKEND_URL"] = f"{redis}/1"
    return env


def _new_instance(home: Path) -> None:
    """A persistent SQLite instance with hermit's settings, created before any worker opens it
    (workers that find it missing race to create the same tables)."""
    home.mkdir(parents=True)
    shutil.copyfile(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_runs_count() == 0


def _launch(env: dict[str, str], logdir: Path, *config: str) -> float:
    """`dg launch` the range as a user would; its wall time in seconds."""
    cmd = [str(VENV_BIN / "dg"), "launch", "--assets", SELECTION]
    cmd += ["--partition-range", f"{START}...{END}", *config]
    return _run(cmd, env, logdir / "dg-launch.log")


def _run(cmd: list[str], env: dict[str, str], log: Path) -> float:
    """Run a user's command; its wall time in seconds. Its output goes to a file, not a pipe,
    and it runs in its own process group: on a timeout the whole group is stopped, so nothing
    it spawned can keep the test waiting."""
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            returncode = proc.wait(timeout=LAUNCH_TIMEOUT)
        except subprocess.TimeoutExpired:
            stop_group(proc)
            pytest.fail(f"{cmd[0]} still running after {LAUNCH_TIMEOUT} s:\n{_tail(log)}")
        finally:
            stop_group(proc, grace=5)  # anything it left behind
    seconds = time.perf_counter() - t0
    assert returncode == 0, _tail(log)
    return seconds


def _tail(path: Path, chars: int = 6000) -> str:
    return path.read_text(errors="replace")[-chars:]


def _only_run(home: Path) -> tuple[dg.DagsterRun, list[dg.EventLogEntry]]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1, runs
        return runs[0], list(instance.all_logs(runs[0].run_id))


def _events(logs: list[dg.EventLogEntry], kind: dg.DagsterEventType) -> list[dg.DagsterEvent]:
    return [e.dagster_event for e in logs if e.dagster_event and e.dagster_event_type == kind]


def _tables(lake: Lake) -> dict[tuple[str, str, str], pl.DataFrame]:
    """Every partition of every table under the lake's layers, read back."""
    root = Path(lake.root)
    found = {}
    for zone in ("validated", "quarantine", "categorised", "reporting"):
        for table in sorted(p.name for p in (root / zone).iterdir() if p.is_dir()):
            for part in sorted((root / zone / table).glob("date=*")):
                day = dt.date.fromisoformat(part.name.removeprefix("date="))
                found[(zone, table, part.name)] = lake.read_partition(zone, table, day)
    return found


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    keys = [c for c, t in frame.schema.items() if not t.is_nested()]
    return frame.sort(keys, nulls_last=True) if keys and frame.height else frame


def test_a_range_fans_out_to_celery_workers_with_the_in_process_tables(tmp_path, redis_url):
    lake_local, lake_celery = tmp_path / "lake-in-process", tmp_path / "lake-celery"
    # 1% broken records, so quarantine holds rows too
    simulate(Lake(str(lake_local)), start=START, end=END, sessions_per_day=400, seed=11,
             inject_rate=0.01)  # fmt: skip
    shutil.copytree(lake_local / "raw", lake_celery / "raw")

    home_local, home_celery = tmp_path / "home-in-process", tmp_path / "home-celery"
    _new_instance(home_local)
    in_process_s = _launch(_environment(home_local, lake_local, "in_process", None), home_local)

    _new_instance(home_celery)
    env = _environment(home_celery, lake_celery, "celery", redis_url)
    t0 = time.perf_counter()
    with celery_workers(WORKERS, env, tmp_path / "workers") as workers:
        start_s = time.perf_counter() - t0
        celery_s = _launch(env, home_celery, "-c", str(CELERY_RUN_CONFIG))
        worker_pids = {w.name: w.pids() for w in workers}
        run, logs = _only_run(home_celery)

    print(
        f"\n{len(DAYS)}-day range, dg launch wall time: in-process {in_process_s:.1f} s, "
        f"celery (2 workers) {celery_s:.1f} s; starting the workers took {start_s:.1f} s"
    )
    assert run.status == dg.DagsterRunStatus.SUCCESS, run.status
    assert run.tags["dagster/asset_partition_range_start"] == START.isoformat()

    # every step ran in a worker's pool process, and both workers took steps
    local_run, local_logs = _only_run(home_local)
    steps = {e.step_key for e in _events(logs, dg.DagsterEventType.STEP_SUCCESS)}
    assert steps == {e.step_key for e in _events(local_logs, dg.DagsterEventType.STEP_SUCCESS)}
    assert {"validate_conn", "categorise_sessions", "build_reporting_tables"} <= steps
    launcher_pid = _events(logs, dg.DagsterEventType.RUN_START)[0].pid
    ran_by = {}
    for event in _events(logs, dg.DagsterEventType.STEP_START):
        owners = [name for name, pids in worker_pids.items() if event.pid in pids]
        assert event.pid not in (launcher_pid, os.getpid()), event.step_key
        assert len(owners) == 1, (event.step_key, event.pid, worker_pids)
        ran_by[event.step_key] = owners[0]
    assert set(ran_by) == steps
    hostnames = {
        e.step_key: e.engine_event_data.metadata["Celery worker"].value
        for e in _events(logs, dg.DagsterEventType.ENGINE_EVENT)
        if "Celery worker" in e.engine_event_data.metadata
    }
    assert {step: host.split("@")[0] for step, host in hostnames.items()} == ran_by
    assert set(ran_by.values()) == set(WORKERS), ran_by

    # the same tables, row for row
    local, celery = _tables(Lake(str(lake_local))), _tables(Lake(str(lake_celery)))
    assert {(z, t) for z, t, _ in local} == EXPECTED_TABLES
    assert set(local) == {(z, t, f"date={d}") for z, t in EXPECTED_TABLES for d in DAYS}
    assert set(celery) == set(local)
    for key, frame in local.items():
        try:
            assert_frame_equal(_sorted(celery[key]), _sorted(frame), check_exact=True)
        except AssertionError as exc:
            raise AssertionError(f"{key}: {exc}") from None
    assert sum(f.height for (z, *_), f in local.items() if z == "quarantine") > 0
    assert all(local[("categorised", "sessions", f"date={d}")].height > 0 for d in DAYS)


def test_hermit_materialize_reaches_the_workers_without_run_config(tmp_path, redis_url):
    """`hermit materialize` submits an asset backfill with no execution config; the daemon's
    runs take the broker from the environment (workflows/instance.py), so with
    HERMIT_EXECUTOR=celery every layer step runs in a worker, not in the daemon's run process."""
    lake = tmp_path / "lake"
    simulate(Lake(str(lake)), start=START, end=START + dt.timedelta(days=1),
             sessions_per_day=300, seed=5)  # fmt: skip
    home = tmp_path / "home"
    _new_instance(home)
    env = _environment(home, lake, "celery", redis_url)
    end = START + dt.timedelta(days=1)
    cmd = [str(VENV_BIN / "hermit"), "materialize", "--start", str(START), "--end", str(end)]
    with celery_workers(WORKERS, env, tmp_path / "workers") as workers:
        seconds = _run(cmd, env, home / "hermit-materialize.log")
        worker_pids = set().union(*(w.pids() for w in workers))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = [r for r in instance.get_runs() if "dagster/backfill" in r.tags]
            logs = [e for r in runs for e in instance.all_logs(r.run_id)]
    print(f"\nhermit materialize, 2 days on 2 celery workers: {seconds:.1f} s")
    starts = _events(logs, dg.DagsterEventType.STEP_START)
    assert {"validate_conn", "categorise_sessions", "build_reporting_tables"} <= {
        e.step_key for e in starts
    }
    hosts = {
        e.step_key: e.engine_event_data.metadata["Celery worker"].value
        for e in _events(logs, dg.DagsterEventType.ENGINE_EVENT)
        if "Celery worker" in e.engine_event_data.metadata
    }
    assert {e.step_key for e in starts} == set(hosts), hosts
    assert {h.split("@")[0] for h in hosts.values()} <= set(WORKERS), hosts
    assert all(e.pid in worker_pids for e in starts), [(e.step_key, e.pid) for e in starts]
    store = Lake(str(lake))
    for day in (START, end):
        assert store.read_partition("categorised", "sessions", day).height > 0
        assert all(store.has_partition("reporting", t, day) for t in REPORTING_TABLES)
