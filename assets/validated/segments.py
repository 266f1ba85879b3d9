"""Loading and grouping raw files: files inflated and parsed ahead in threads (both cores),
an unreadable file as one quarantine entry, and small segments alike joined to convert as
one."""

from __future__ import annotations

import collections
import dataclasses
import errno
import os
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import polars as pl

from assets.memory import budget_bytes, rss_bytes
from assets.validated.raw_file import RawFile
from assets.zeek.inflate import Inflated, inflate
from assets.zeek.names import is_rotated
from assets.zeek.reader import read_inflated
from assets.zeek.records import SOURCE, Segment, ZeekRead


def batch_key(raw_file: RawFile, seg: Segment) -> tuple:
    """Segments with equal keys convert identically, so they can be converted as one."""
    return (
        raw_file.folder_day,
        raw_file.sensor,
        is_rotated(raw_file.source_file),  # un-rotated files have a wider time window
        tuple(seg.frame.schema.items()),
        tuple(seg.types.items()),
        seg.separator,
        seg.set_separator,
        seg.unset,
        seg.empty,
        seg.escaped,
    )


def joined(segments: Iterable[Segment]) -> Segment:
    """One segment of several alike, each row tagged with its segment's index (SOURCE)."""
    segments = list(segments)
    first = segments[0]
    frame = pl.concat(
        [
            s.frame.with_columns(pl.lit(i, dtype=pl.Int32).alias(SOURCE))
            for i, s in enumerate(segments)
        ],
        how="vertical",
        rechunk=False,
    )
    # the same header; no text: rows are quoted from their own segment (`quarantine_rows`)
    return dataclasses.replace(first, frame=frame, text=None, first_line=1)


def read_ahead(
    files: list[RawFile], numeric: Mapping[str, str], workers: int | None = None
) -> Iterator[tuple[RawFile, ZeekRead]]:
    """Each file loaded, inflated and parsed, in order, by `workers` threads (default: the
    cores, at most READ_WORKERS) while the caller converts the one before: the load is I/O
    (S3 latency), zlib inflates and polars parses without the GIL, so the cores work side
    by side. Holds at most `workers` files ahead of the caller's, and only one while the
    process holds more than half the memory budget (big files: one at a time).
    Close it (contextlib.closing) so an error in the caller stops the prefetch at once."""
    if not files:
        return
    n = workers or max(1, min(READ_WORKERS, os.cpu_count() or 1))
    half_budget = budget_bytes() // 2
    pool = ThreadPoolExecutor(n, thread_name_prefix="hermit-read")
    ahead: collections.deque[Future] = collections.deque()
    upcoming = collections.deque(files)

    def top_up() -> None:
        while upcoming and len(ahead) < n and (not ahead or rss_bytes() < half_budget):
            ahead.append(pool.submit(_load_read, upcoming.popleft(), numeric))

    try:
        top_up()
        for raw_file in files:
            current = ahead.popleft().result()
            top_up()
            yield raw_file, current
            del current
    finally:
        for f in ahead:
            f.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


# Files read at once: two cores' worth (each parse also uses polars' own threads).
READ_WORKERS = 2


def _load_read(raw_file: RawFile, numeric: Mapping[str, str]) -> ZeekRead:
    return read_inflated(_load_inflated(raw_file), numeric=numeric)


def _load_inflated(raw_file: RawFile) -> Inflated:
    """The file inflated; a file that cannot be read (a symlink loop, no permission, gone
    since it was listed) is one `unreadable_file` entry naming it, and the day goes on."""
    try:
        stored = raw_file.load()
    except OSError as e:
        if not _about_the_file(e):
            raise  # storage trouble (after the lake's retries): fail, never drop the file
        return Inflated(b"", f"cannot read {raw_file.source_file}: {e}", "unreadable_file")
    return inflate(stored, gzip_expected=raw_file.source_file.endswith(".gz"))


# errors that say something about the file itself, not about the storage: retrying or waiting
# cannot change them, so the file is quarantined and the day goes on
_FILE_ERRNOS = {errno.ELOOP, errno.EACCES, errno.EPERM, errno.ENOENT, errno.EISDIR, errno.ENOTDIR}


def _about_the_file(e: OSError) -> bool:
    return isinstance(e, PermissionError | FileNotFoundError | IsADirectoryError) or (
        e.errno in _FILE_ERRNOS
    )
