"""Shared fixtures: a loopback S3 server (moto) and a throwaway PostgreSQL server."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

S3_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- S3 ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server on loopback for the whole session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@dataclass
class S3Bucket:
    endpoint: str
    bucket: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}"


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    """A fresh bucket, with the standard AWS variables pointing at the loopback server (so
    `Lake("s3://<bucket>/...")`, and subprocesses that inherit the environment, reach it)."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    bucket = f"hermit-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    _forget_cached_s3fs()
    return S3Bucket(endpoint=s3_server, bucket=bucket)


def _forget_cached_s3fs() -> None:
    # fsspec caches filesystem instances (and their listings) per options; a new bucket on a
    # new server must not be answered from an earlier test's cache.
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


# ---- PostgreSQL ----------------------------------------------------------------------------
@dataclass
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.db}"

    def env(self) -> dict[str, str]:
        """The variables deploy/dagster.postgres.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db,
        }

    def create_database(self, name: str) -> Postgres:
        import psycopg2

        conn = psycopg2.connect(self.url.rsplit("/", 1)[0] + "/postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return Postgres(self.host, self.port, self.user, self.password, name)


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    # Debian's postgresql package keeps its server programs off PATH.
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """A PostgreSQL server: HERMIT_TEST_POSTGRES_URL if set, else one started on loopback from
    the installed binaries (skips when there are none; .ci/services.sh installs them)."""
    url = os.environ.get("HERMIT_TEST_POSTGRES_URL")
    if url:
        from urllib.parse import urlparse

        u = urlparse(url)
        yield Postgres(
            u.hostname or "127.0.0.1",
            u.port or 5432,
            u.username or "postgres",
            u.password or "",
            u.path.lstrip("/") or "postgres",
        )
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        message = "no PostgreSQL server binaries (.ci/services.sh installs them)"
        if os.environ.get("HERMIT_REQUIRE_SERVICES"):
            pytest.fail(message)  # CI must not pass by skipping the PostgreSQL tests
        pytest.skip(message)
    run_as: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root; use the system's postgres account.
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser to switch to the postgres user")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user")
        run_as = ["runuser", "-u", "postgres", "--"]
    base = Path(f"/tmp/hermit-pg-{uuid.uuid4().hex[:8]}")
    base.mkdir(mode=0o700)
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    pwfile = base / "pw"
    password = "hermit"
    pwfile.write_text(password)
    if run_as:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        shutil.chown(pwfile, "postgres")
    port = free_port()
    subprocess.run(
        [*run_as, initdb, "-D", str(data), "-U", "hermit", "--pwfile", str(pwfile), "-A", "md5"],
        check=True,
        capture_output=True,
    )
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off"
    subprocess.run(
        [*run_as, pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    server = Postgres("127.0.0.1", port, "hermit", password, "postgres")
    try:
        _wait_for_postgres(server)
        yield server
    finally:
        subprocess.run(
            [*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def _wait_for_postgres(server: Postgres, attempts: int = 50) -> None:
    import psycopg2

    for _ in range(attempts):
        try:
            psycopg2.connect(
                host=server.host,
                port=server.port,
                user=server.user,
                password=server.password,
                dbname="postgres",
            ).close()
            return
        except psycopg2.OperationalError:
            time.sleep(0.1)
    raise RuntimeError("PostgreSQL did not accept connections")


@pytest.fixture
def postgres(postgres_server: Postgres) -> Postgres:
    """A fresh, empty database on the session's server."""
    return postgres_server.create_database(f"hermit_{uuid.uuid4().hex[:10]}")


# ---- a writer killed mid-write -------------------------------------------------------------
# The child writes a complete first version of a partition, then starts replacing it with a
# large second version whose byte stream stalls after its first chunk (so the kill lands inside
# the write, deterministically), says so on stdout, and waits to be SIGKILLed.
KILLED_WRITER = r"""
import datetime as dt, sys, time
import polars as pl
from assets.lake import Lake

root, rows = sys.argv[1], int(sys.argv[2])
lake = Lake(root)
day = dt.date(2017, 4, 2)
lake.write_partition("validated", "conn", day, pl.DataFrame({"v": [1] * 1000}))
print("old-written", flush=True)

class Stalling:
    def __init__(self, f):
        self._f, self._n = f, 0
    def write(self, b):
        self._n += 1
        if self._n == 2:
            print("mid-write", flush=True)
            time.sleep(600)
        return self._f.write(b)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self._f.__exit__(*exc)
    def __getattr__(self, name):
        return getattr(self._f, name)

real_open = lake.fs.open
lake.fs.open = lambda p, mode="rb", **kw: (
    Stalling(real_open(p, mode, **kw)) if "w" in mode else real_open(p, mode, **kw)
)
lake.write_partition("validated", "conn", day, pl.DataFrame({"v": list(range(rows))}))
print("new-written", flush=True)
"""


def kill_writer_mid_write(root: str, rows: int = 300_000) -> None:
    """Run KILLED_WRITER against lake `root` and SIGKILL it inside its second write."""
    import signal
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, root, str(rows)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line.strip())
            if line.strip() == "mid-write":
                break
        assert lines == ["old-written", "mid-write"], (lines, proc.stderr.read())
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture
def killed_writer():
    """kill_writer_mid_write(root): leaves `validated/conn` 2017-04-02 as a killed run left it."""
    return kill_writer_mid_write
