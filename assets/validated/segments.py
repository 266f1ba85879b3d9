"""Loading and grouping raw files: each file inflated (the next one ahead, in a thread), an
unreadable file as one quarantine entry, and small segments alike joined to convert as one."""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from assets.validated.raw_file import RawFile
from assets.zeek.inflate import Inflated, inflate
from assets.zeek.names import is_rotated
from assets.zeek.records import SOURCE, Segment


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


def inflated_ahead(files: list[RawFile]) -> Iterator[tuple[RawFile, Inflated]]:
    """Each file loaded and inflated, the next one in a background thread while the caller
    parses this one: the load is I/O (S3 latency), and zlib, most of the remaining time, runs
    without the GIL beside polars. Holds the current file's bytes and the next one's.
    Close it (contextlib.closing) so an error in the caller stops the prefetch at once."""
    if not files:
        return
    pool = ThreadPoolExecutor(1, thread_name_prefix="hermit-inflate")
    ahead = pool.submit(_load_inflated, files[0])
    try:
        for i, raw_file in enumerate(files):
            current = ahead.result()
            if i + 1 < len(files):
                ahead = pool.submit(_load_inflated, files[i + 1])
            yield raw_file, current
            del current
    finally:
        ahead.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


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
