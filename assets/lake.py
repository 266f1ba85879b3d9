"""The lake: every read and write of hermit goes through here (fsspec: local paths or s3://).

Partition writes are atomic and serialised:

- the new file is written under `<lake>/_staging/`, then published with one atomic step
  (local: rename(2) over `part-0.parquet`; S3: one server-side copy, which replaces an object
  atomically), so readers see the complete old partition or the complete new one, never half;
- a per-partition lock object (`<lake>/_locks/...`, created exclusively: O_EXCL locally, a
  conditional PUT with If-None-Match on S3) keeps two runs from interleaving their writes.
  A lock whose holder died (same host, pid gone) or stopped heart-beating is broken.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import io
import json
import os
import posixpath
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import fsspec
import polars as pl
import pyarrow.parquet as pq

T = TypeVar("T")

# zstd with column statistics; polars writes standard Parquet types (UTF8 strings, INT64
# microsecond UTC timestamps) that DuckDB, pyarrow, polars and Spark read as they are.
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "statistics": True}
PART = "part-0.parquet"
LOCK_DIR = "_locks"
STAGING_DIR = "_staging"

TRANSIENT_ERRORS = (OSError, TimeoutError, ConnectionError)
# OSError subclasses that say something true about the data: retrying cannot change them.
PERMANENT_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)


def with_retries(fn: Callable[[], T], attempts: int = 4, base_delay: float = 0.2) -> T:
    """Retry a storage call on transient errors (network blips on S3), with backoff."""
    for attempt in range(attempts):
        try:
            return fn()
        except PERMANENT_ERRORS:
            raise
        except TRANSIENT_ERRORS as e:
            if attempt == attempts - 1 or getattr(e, "errno", None) == errno.ELOOP:
                raise  # a symlink loop stays one
            time.sleep(base_delay * 2**attempt)
    raise AssertionError("unreachable")


def _storage_options_from_env(url: str) -> dict:
    if not url.startswith("s3://"):
        return {}
    opts: dict = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["endpoint_url"] = endpoint
    return opts


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


@dataclass(frozen=True)
class RawFile:
    """One raw log file as the lake lists it."""

    path: str
    sensor: str
    day: dt.date  # the folder's day
    modified: float  # when it arrived (epoch seconds, the store's own clock)
    size: int


class LockTimeout(TimeoutError):
    """Another live writer held the lock for longer than we were willing to wait."""


class Lake:
    """A lake root (local directory or s3://bucket/prefix) with hermit's zone layout."""

    def __init__(self, root: str, raw_root: str | None = None, storage_options: dict | None = None):
        self.root = root.rstrip("/")
        self.raw_root = (raw_root or f"{self.root}/raw").rstrip("/")
        opts = storage_options if storage_options is not None else _storage_options_from_env(root)
        self.fs, self._root_path = fsspec.core.url_to_fs(self.root, **opts)
        raw_opts = (
            storage_options
            if storage_options is not None
            else _storage_options_from_env(self.raw_root)
        )
        self.raw_fs, self._raw_path = fsspec.core.url_to_fs(self.raw_root, **raw_opts)
        self.is_local = _is_local(self.fs)
        self._held: dict[tuple[str, int], tuple[_LockHandle, int]] = {}
        self._held_guard = threading.Lock()

    # ---- paths -------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return posixpath.join(self._root_path, *parts)

    def url(self, *parts: str) -> str:
        """A path with its protocol, for tools outside fsspec (DuckDB, BI)."""
        p = self.path(*parts)
        if self.is_local:
            return p
        proto = self.fs.protocol[0] if isinstance(self.fs.protocol, tuple) else self.fs.protocol
        return f"{proto}://{p}"

    def partition_dir(self, zone: str, table: str, day: dt.date) -> str:
        return self.path(zone, table, f"date={day.isoformat()}")

    # ---- partitions --------------------------------------------------------------------------
    def write_partition(self, zone: str, table: str, day: dt.date, df: pl.DataFrame) -> str:
        """Replace partition `day` of `zone/table` with `df`, atomically, under its lock."""
        final = posixpath.join(self.partition_dir(zone, table, day), PART)
        with self.partition_lock(zone, table, day):
            staging = posixpath.join(self._staging_dir(zone, table, day), uuid.uuid4().hex, PART)
            self.fs.makedirs(posixpath.dirname(staging), exist_ok=True)
            with_retries(lambda: self._write_parquet(df, staging))
            self._publish(staging, final)
        return posixpath.dirname(final)

    def _write_parquet(self, df: pl.DataFrame, path: str) -> None:
        # polars writes straight from its buffers (no Arrow copy of the day in between)
        with self.fs.open(path, "wb") as fh:
            df.write_parquet(fh, **PARQUET_OPTIONS)
            if self.is_local:
                fh.flush()
                os.fsync(fh.fileno())

    def _publish(self, staging: str, final: str) -> None:
        final_dir = posixpath.dirname(final)
        if self.is_local:
            os.makedirs(final_dir, exist_ok=True)
            os.replace(staging, final)  # atomic: readers see the old file or the new one
            _fsync_dir(final_dir)
        else:
            # An object store has no rename, but one PUT/COPY replaces an object atomically.
            with_retries(lambda: self.fs.copy(staging, final))
        # Files of an older layout (part-1.. from earlier writers) must not be read as ours.
        for p in self._ls(final_dir):
            if posixpath.basename(p.rstrip("/")) != PART:
                self.fs.rm(p, recursive=True)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(posixpath.dirname(staging), recursive=True)
        self.fs.invalidate_cache(final_dir)

    def _staging_dir(self, zone: str, table: str, day: dt.date) -> str:
        return self.path(STAGING_DIR, zone, table, f"date={day.isoformat()}")

    def _ls(self, path: str) -> list[str]:
        self.fs.invalidate_cache(path)
        try:
            return self.fs.ls(path, detail=False)
        except FileNotFoundError:
            return []

    def has_partition(self, zone: str, table: str, day: dt.date) -> bool:
        return self.fs.exists(posixpath.join(self.partition_dir(zone, table, day), PART))

    def read_partition(
        self, zone: str, table: str, day: dt.date, columns: Iterable[str] | None = None
    ) -> pl.DataFrame | None:
        """The partition's rows, or None when it has never been written.

        columns: read only these (those the file has): Parquet is columnar, so the others are
        never decoded, and on S3 never downloaded (ranged reads of the column chunks).
        """
        path = posixpath.join(self.partition_dir(zone, table, day), PART)
        wanted = None if columns is None else list(columns)

        def read() -> pl.DataFrame | None:
            try:
                with self.fs.open(path, "rb") as fh:
                    if wanted is None:
                        return pl.read_parquet(fh)
                    parquet = pq.ParquetFile(fh)  # the footer only
                    present = [c for c in wanted if c in parquet.schema_arrow.names]
                    if self.is_local:
                        fh.seek(0)
                        return pl.read_parquet(fh, columns=present)
                    return pl.from_arrow(parquet.read(columns=present))  # type: ignore[return-value]
            except FileNotFoundError:
                return None

        return with_retries(read)

    @contextlib.contextmanager
    def scan_partition(self, zone: str, table: str, day: dt.date) -> Iterator[pl.LazyFrame | None]:
        """The partition as a LazyFrame (None when never written), valid inside the `with`.

        Locally a query on it reads only the columns (and row groups) it needs, from one open
        file, so a publish meanwhile cannot mix two versions. On S3 the object is downloaded
        once (with retries) and a query decodes only what it needs.
        """
        path = posixpath.join(self.partition_dir(zone, table, day), PART)
        try:
            if self.is_local:
                source = with_retries(lambda: self.fs.open(path, "rb"))
            else:
                source = io.BytesIO(with_retries(lambda: self.fs.cat_file(path)))
        except FileNotFoundError:
            source = None
        if source is None:
            yield None
            return
        with source:
            yield pl.scan_parquet(source)

    def read_partitions(self, zone: str, table: str, days: Iterable[dt.date]) -> pl.DataFrame:
        """Several partitions as one frame with a `date` column (missing days are skipped)."""
        frames = []
        for day in days:
            df = self.read_partition(zone, table, day)
            if df is not None:
                frames.append(df.with_columns(pl.lit(day).alias("date")))
        if not frames:
            return pl.DataFrame()
        return pl.concat(frames, how="diagonal_relaxed")

    def partition_days(self, zone: str, table: str) -> list[dt.date]:
        """The days whose partition is published (has its part file)."""
        days = []
        for p in self._ls(self.path(zone, table)):
            name = posixpath.basename(p.rstrip("/"))
            if name.startswith("date=") and self.fs.exists(posixpath.join(p, PART)):
                days.append(dt.date.fromisoformat(name[5:]))
        return sorted(days)

    def partition_rows(self, zone: str, table: str, day: dt.date) -> int | None:
        """Row count of a partition from its Parquet footer (None when absent)."""
        path = posixpath.join(self.partition_dir(zone, table, day), PART)
        try:
            with self.fs.open(path, "rb") as fh:
                return pq.ParquetFile(fh).metadata.num_rows
        except FileNotFoundError:
            return None

    # ---- locks --------------------------------------------------------------------------------
    def lock(
        self, name: str, *, timeout: float | None = None, stale_after: float | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """An exclusive lock named `name` across processes and hosts sharing this lake.

        Re-entrant within one thread. `timeout` (HERMIT_LOCK_TIMEOUT_SECONDS, default 1800 s)
        bounds the wait for a live holder; a holder whose heartbeat is older than `stale_after`
        (HERMIT_LOCK_STALE_SECONDS, default 600 s), or whose process is gone from this host,
        is considered dead and its lock is broken.
        """
        return self._lock_cm(
            name,
            timeout if timeout is not None else _env_float("HERMIT_LOCK_TIMEOUT_SECONDS", 1800),
            stale_after
            if stale_after is not None
            else _env_float("HERMIT_LOCK_STALE_SECONDS", 600),
        )

    def partition_lock(
        self, zone: str, table: str, day: dt.date, **kw
    ) -> contextlib.AbstractContextManager[None]:
        """The lock that serialises writers of one partition (write_partition takes it)."""
        return self.lock(f"{zone}/{table}/date={day.isoformat()}", **kw)

    @contextlib.contextmanager
    def lock_partitions(
        self, partitions: Iterable[tuple[str, str, dt.date]], **kw
    ) -> Iterator[None]:
        """Hold the locks of several partitions at once (e.g. a table and its quarantine while
        a step publishes both); taken in sorted order so two holders cannot deadlock."""
        with contextlib.ExitStack() as stack:
            for zone, table, day in sorted(set(partitions)):
                stack.enter_context(self.partition_lock(zone, table, day, **kw))
            yield

    @contextlib.contextmanager
    def _lock_cm(self, name: str, timeout: float, stale_after: float) -> Iterator[None]:
        key = (name, threading.get_ident())
        with self._held_guard:
            held = self._held.get(key)
            if held:
                self._held[key] = (held[0], held[1] + 1)
        if held:
            try:
                yield
            finally:
                with self._held_guard:
                    handle, n = self._held[key]
                    self._held[key] = (handle, n - 1)
            return
        handle = _LockHandle(self, self.path(LOCK_DIR, f"{name}.lock"), stale_after)
        handle.acquire(timeout)
        with self._held_guard:
            self._held[key] = (handle, 1)
        try:
            if name.count("/") >= 2:
                self._clear_orphans(name)
            yield
        finally:
            with self._held_guard:
                del self._held[key]
            handle.release()

    def clean_stale_locks(self, min_age: float = 60.0) -> list[str]:
        """Remove lock files no live writer holds: empty or unreadable ones (a writer stopped
        inside its create, e.g. by a full disk) older than `min_age` seconds, and the leftover
        temporaries of a lock's heartbeat or breaking. Returns the removed paths."""
        base = self.path(LOCK_DIR)
        self.fs.invalidate_cache(base)
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return []
        removed = []
        now = time.time()
        for path, info in found.items():
            modified = info.get("LastModified") or info.get("mtime") or now
            if isinstance(modified, dt.datetime):
                modified = modified.timestamp()
            if info.get("type") == "directory" or now - float(modified) < min_age:
                continue
            name = posixpath.basename(path)
            leftover = ".beat-" in name or ".broken-" in name
            if not leftover:
                if not name.endswith(".lock"):
                    continue
                try:
                    json.loads(self.fs.cat_file(path))
                    continue  # a real holder: judged by the lock itself (heartbeat, pid)
                except ValueError:
                    pass
                except FileNotFoundError:
                    continue
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(path)
                removed.append(path)
        return removed

    def _clear_orphans(self, name: str) -> None:
        # We hold the partition's lock, so whatever is staged for it belongs to a dead writer.
        zone, table, part = name.split("/", 2)
        if part.startswith("date="):
            staging = self._staging_dir(zone, table, dt.date.fromisoformat(part[5:]))
            with contextlib.suppress(FileNotFoundError):
                if self._ls(staging):
                    self.fs.rm(staging, recursive=True)

    # ---- raw zone -----------------------------------------------------------------------------
    def raw_path(self, *parts: str) -> str:
        return posixpath.join(self._raw_path, *parts)

    def _raw_ls(self, path: str, detail: bool = False):
        self.raw_fs.invalidate_cache(path)
        try:
            return with_retries(lambda: self.raw_fs.ls(path, detail=detail))
        except FileNotFoundError:
            return []

    def raw_sensors(self) -> list[str]:
        return sorted(
            posixpath.basename(e["name"].rstrip("/"))
            for e in self._raw_ls(self.raw_path("zeek"), detail=True)
            if self._raw_kind(e) == "directory"
        )

    def _raw_kind(self, entry: dict) -> str:
        # a sensor folder linked into the raw zone (the README's way to add real logs) is
        # listed as a link ("other"): judge it by its target
        if entry.get("islink") or entry["type"] == "other":
            return "directory" if self.raw_fs.isdir(entry["name"]) else "file"
        return entry["type"]

    def raw_folder(self, sensor: str, day: dt.date) -> str:
        return self.raw_path("zeek", sensor, day.isoformat())

    def raw_files(self, sensor: str, day: dt.date) -> list[str]:
        entries = self._raw_ls(self.raw_folder(sensor, day), detail=True)
        return sorted(e["name"] for e in entries if self._raw_kind(e) == "file")

    def raw_entries(self, folder: str) -> list[dict]:
        """A raw folder's entries (`name`, `type`: file or directory); [] when it is absent."""
        entries = self._raw_ls(folder, detail=True)
        return [{"name": e["name"], "type": self._raw_kind(e)} for e in entries]

    def is_raw_local(self) -> bool:
        return _is_local(self.raw_fs)

    def raw_inventory(self, zone: str = "zeek") -> list[RawFile]:
        """Every raw file in a dated folder (`raw/<zone>/<sensor>/<YYYY-MM-DD>/<file>`, zone
        `zeek` or `flows`), with its arrival time; what the late-data sensor watches."""
        base = self.raw_path(zone)
        self.raw_fs.invalidate_cache(base)
        try:
            found = with_retries(lambda: self.raw_fs.find(base, detail=True))
        except FileNotFoundError:
            return []
        out = []
        for path, info in found.items():
            parts = posixpath.relpath(path, base).split("/")
            if len(parts) != 3 or info.get("type") == "directory":
                continue
            try:
                day = dt.date.fromisoformat(parts[1])
            except ValueError:
                continue
            out.append(
                RawFile(path, parts[0], day, _arrival_time(info), int(info.get("size") or 0))
            )
        return sorted(out, key=lambda f: (f.modified, f.path))

    def raw_relpath(self, path: str) -> str:
        return posixpath.relpath(path, self._raw_path)

    def read_raw_bytes(self, path: str) -> bytes:
        """The file's bytes as stored (still compressed: the reader decides how to inflate)."""
        return with_retries(lambda: self.raw_fs.cat_file(path))

    # ---- plain files (reports, ground truth) -------------------------------------------------
    def inside(self, relpath: str) -> str:
        """`relpath` as a path in the lake; ValueError if it would lead out of it (`..`, an
        absolute path), so no user-given name can write or read outside the lake."""
        norm = posixpath.normpath(relpath.replace("\\", "/"))
        if not relpath or posixpath.isabs(norm) or norm == ".." or norm.startswith("../"):
            raise ValueError(f"{relpath!r} is not a path inside the lake")
        return self.path(norm)

    def write_bytes(self, relpath: str, data: bytes) -> str:
        """Write a whole file atomically (staged, then renamed/copied into place)."""
        path = self.inside(relpath)
        tmp = self.path(STAGING_DIR, "files", uuid.uuid4().hex)
        self.fs.makedirs(posixpath.dirname(tmp), exist_ok=True)
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        with_retries(lambda: self.fs.pipe_file(tmp, data))
        if self.is_local:
            os.replace(tmp, path)
        else:
            with_retries(lambda: self.fs.copy(tmp, path))
            self.fs.rm(tmp)
        self.fs.invalidate_cache(posixpath.dirname(path))
        return path

    def read_bytes(self, relpath: str) -> bytes:
        return with_retries(lambda: self.fs.cat_file(self.inside(relpath)))

    def exists(self, relpath: str) -> bool:
        return self.fs.exists(self.inside(relpath))


class _LockHandle:
    """One lock object: created exclusively, kept alive by a heartbeat thread, broken when its
    holder is provably dead (pid gone on this host) or silent for `stale_after` seconds."""

    def __init__(self, lake: Lake, path: str, stale_after: float):
        self.lake, self.fs, self.path = lake, lake.fs, path
        self.stale_after = stale_after
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def _payload(self) -> bytes:
        body = {"token": self.token, "host": self.host, "pid": self.pid, "heartbeat": time.time()}
        return json.dumps(body).encode()

    def acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self.fs.makedirs(posixpath.dirname(self.path), exist_ok=True)
        delay = 0.05
        while True:
            if self._try_create():
                break
            info = self._read()
            if info is None:
                continue  # released between our create and our read
            if info.get("token") == self.token:
                break  # our create went through, its response was lost and retried
            if self._is_dead(info):
                self._break(info)
                continue
            if time.monotonic() > deadline:
                raise LockTimeout(
                    f"lock {self.path} held by {info.get('host')} pid {info.get('pid')} "
                    f"(heartbeat {time.time() - float(info.get('heartbeat', 0)):.0f} s ago)"
                )
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        self._beat = threading.Thread(target=self._heartbeat, name=f"lock {self.path}", daemon=True)
        self._beat.start()

    def _try_create(self) -> bool:
        data = self._payload()
        try:
            if self.lake.is_local:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                try:
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(data)
                except BaseException:
                    # a full disk: leave no empty lock behind for the next run to wait on
                    with contextlib.suppress(OSError):
                        os.unlink(self.path)
                    raise
            elif "s3" in _protocols(self.fs):
                # Conditional PUT (If-None-Match: *): S3 itself refuses a second creator.
                with_retries(lambda: self.fs.pipe_file(self.path, data, mode="create"))
            else:
                # Best effort for stores without conditional writes: check, write, verify.
                if self.fs.exists(self.path):
                    return False
                self.fs.pipe_file(self.path, data)
                return (self._read() or {}).get("token") == self.token
        except FileExistsError:
            return False
        return True

    def _read(self) -> dict | None:
        self.fs.invalidate_cache(self.path)
        try:
            return json.loads(with_retries(lambda: self.fs.cat_file(self.path)))
        except FileNotFoundError:
            return None
        except ValueError:
            # Half-written by a writer killed inside its create: treat as a silent holder.
            return {"token": None, "heartbeat": 0}

    def _is_dead(self, info: dict) -> bool:
        if time.time() - float(info.get("heartbeat", 0)) > self.stale_after:
            return True
        if info.get("host") == self.host and isinstance(info.get("pid"), int):
            return not _pid_alive(info["pid"])
        return False

    def _break(self, info: dict) -> None:
        if self.lake.is_local:
            # Rename is atomic: only one breaker wins, and a fresh lock is never removed blindly.
            tomb = f"{self.path}.broken-{uuid.uuid4().hex[:8]}"
            try:
                os.rename(self.path, tomb)
            except FileNotFoundError:
                return
            try:
                with open(tomb, "rb") as fh:
                    taken = json.loads(fh.read() or b"{}")
            except ValueError:
                taken = {}
            if taken.get("token") != info.get("token"):
                with contextlib.suppress(FileExistsError):
                    os.link(tomb, self.path)  # not the lock we judged dead: put it back
            os.unlink(tomb)
            return
        # Object stores: re-read just before deleting to narrow the race with another breaker.
        again = self._read()
        if again is not None and again.get("token") == info.get("token"):
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(self.path)

    def _heartbeat(self) -> None:
        while not self._stop.wait(max(self.stale_after / 4, 0.05)):
            with contextlib.suppress(Exception):
                if (self._read() or {}).get("token") != self.token:
                    return  # broken by someone who judged us dead; nothing of ours to refresh
                if self.lake.is_local:
                    tmp = f"{self.path}.beat-{self.token[:8]}"
                    with open(tmp, "wb") as fh:
                        fh.write(self._payload())
                    os.replace(tmp, self.path)
                else:
                    self.fs.pipe_file(self.path, self._payload())

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=10)
        if (self._read() or {}).get("token") == self.token:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(self.path)


def _protocols(fs) -> tuple[str, ...]:
    return fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)


def _is_local(fs) -> bool:
    return bool({"file", "local"} & set(_protocols(fs)))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _arrival_time(info: dict) -> float:
    """When a file reached the store: S3's LastModified is the upload time; locally a copy
    that preserves mtime (cp -p, rsync -t) still gets a fresh ctime, so take the later."""
    modified = info.get("LastModified") or info.get("mtime") or 0
    if isinstance(modified, dt.datetime):
        modified = modified.timestamp()
    return max(float(modified), float(info.get("created") or 0))
