"""Storage helpers shared by the lake and its locks: retries on transient errors, and what
kind of filesystem fsspec gave us."""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

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


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def _protocols(fs) -> tuple[str, ...]:
    return fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)


def _is_local(fs) -> bool:
    return bool({"file", "local"} & set(_protocols(fs)))


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether a process of this host still runs under `pid` (a lock's or a run's holder)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, just not ours
    return True
