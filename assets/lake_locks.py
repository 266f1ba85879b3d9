"""Partition locks of the lake: a lock object per partition under `<lake>/_locks/`, created
exclusively (O_EXCL locally, a conditional PUT with If-None-Match on S3), heart-beaten while
held, and broken when its holder died (same host, pid gone) or stopped heart-beating."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import posixpath
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator

from assets.storage import _env_float, _protocols, pid_alive, with_retries

LOCK_DIR = "_locks"


class LockTimeout(TimeoutError):
    """Another live writer held the lock for longer than we were willing to wait."""


class PartitionLocks:
    """The lock methods of Lake (a mixin: it uses the lake's filesystem and paths)."""

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
        if not held:
            handle = _LockHandle(self, self.path(LOCK_DIR, f"{name}.lock"), stale_after)
            handle.acquire(timeout)
            with self._held_guard:
                self._held[key] = (handle, 1)
            try:
                if name.count("/") >= 2:
                    self._clear_orphans(name)
            except BaseException:
                self._release_one(key)
                raise
        try:
            yield
        finally:
            self._release_one(key)

    def _release_one(self, key: tuple[str, int]) -> None:
        # Holders may end in any order (a partition writer's lock can end inside a
        # lock_partitions around its publish): the last one out releases the lock.
        with self._held_guard:
            handle, n = self._held[key]
            if n > 1:
                self._held[key] = (handle, n - 1)
                return
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


class _LockHandle:
    """One lock object: created exclusively, kept alive by a heartbeat thread, broken when its
    holder is provably dead (pid gone on this host) or silent for `stale_after` seconds."""

    def __init__(self, lake: PartitionLocks, path: str, stale_after: float):
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
            return not pid_alive(info["pid"])
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
