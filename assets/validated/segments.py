"""Loading and grouping raw files: files inflated and parsed ahead in threads (both cores), a
piece of whole lines at a time, an unreadable file as one quarantine entry, and small
segments alike joined to convert as one."""

from __future__ import annotations

import collections
import dataclasses
import errno
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from assets.memory import budget_bytes, rss_bytes
from assets.validated.raw_file import RawFile
from assets.zeek.inflate import InflateStream
from assets.zeek.names import is_rotated
from assets.zeek.reader import read_pieces
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
    files: list[RawFile],
    numeric: Mapping[str, str],
    workers: int | None = None,
    piece: int | None = None,
) -> Iterator[tuple[RawFile, Iterator[ZeekRead]]]:
    """Each file with its reads, a piece of whole lines at a time (`piece_bytes`), in order:
    `workers` threads (default: the cores, at most READ_WORKERS) load, inflate and parse
    files while the caller converts the pieces before: the load is I/O (S3 latency), zlib
    inflates and polars parses without the GIL, so the cores work side by side. A file runs
    at most PIECES_AHEAD pieces ahead of the caller, so an hour of any size is held a few
    pieces at a time; a file is only started ahead of the caller's while the process holds
    less than a third of the memory budget. Read each file's pieces before the next file's.
    Close it (contextlib.closing) so an error in the caller stops the prefetch at once."""
    if not files:
        return
    n = workers or max(1, min(READ_WORKERS, os.cpu_count() or 1))
    ahead_limit = budget_bytes() // 3
    size = piece or piece_bytes()
    pool = ThreadPoolExecutor(n, thread_name_prefix="hermit-read")
    ahead: collections.deque[_Prefetch] = collections.deque()
    upcoming = collections.deque(files)

    def top_up() -> None:
        while upcoming and len(ahead) < n and (len(ahead) < 2 or rss_bytes() < ahead_limit):
            raw_file = upcoming.popleft()
            ahead.append(_Prefetch(pool, lambda f=raw_file: file_pieces(f, numeric, size)))

    try:
        top_up()
        for raw_file in files:
            current = ahead[0]
            yield raw_file, iter(current)
            current.wait_done()
            ahead.popleft()
            top_up()
            del current
    finally:
        for prefetch in ahead:
            prefetch.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


# Files read at once: two cores' worth (each parse also uses polars' own threads).
READ_WORKERS = 2
# Pieces of a file parsed ahead of the one the caller converts.
PIECES_AHEAD = 1


def piece_bytes(budget: int | None = None) -> int:
    """Inflated bytes of one piece of a raw file: 1/192 of the memory budget (16 MiB of the
    default 3 GiB, about 80k conn lines). A piece is held as text, parsed frame and
    converted rows at once, and a few pieces are in flight (at 10M conn records, 16 MiB
    pieces peaked 110 MiB below 32 MiB ones and ran no slower; 8 MiB ones, slower)."""
    return max(1 << 20, budget_bytes(budget) // 192)


def file_pieces(raw_file: RawFile, numeric: Mapping[str, str], size: int) -> Iterator[ZeekRead]:
    """The raw file's reads, a piece of about `size` inflated bytes at a time, streamed from
    its open file (closed when the pieces end or are given up)."""
    stream = _load_stream(raw_file, size)
    try:
        yield from read_pieces(stream, numeric, size)
    finally:
        stream.close()


def _load_stream(raw_file: RawFile, size: int) -> InflateStream:
    """The file's inflating stream; a file that cannot be read (a symlink loop, no
    permission, gone since it was listed) is one `unreadable_file` entry naming it, and the
    day goes on."""
    try:
        stored = raw_file.stored()
    except OSError as e:
        if not _about_the_file(e):
            raise  # storage trouble (after the lake's retries): fail, never drop the file
        return InflateStream.failed(f"cannot read {raw_file.source_file}: {e}", "unreadable_file")
    return InflateStream(stored, raw_file.source_file.endswith(".gz"), plain_block=size)


class _Prefetch:
    """A file's pieces produced in a pool thread, at most PIECES_AHEAD ahead of the reader."""

    _END = object()

    def __init__(self, pool: ThreadPoolExecutor, pieces: Callable[[], Iterator[ZeekRead]]):
        self.queue: queue.Queue = queue.Queue(maxsize=PIECES_AHEAD)
        self.stopped = threading.Event()
        self.future = pool.submit(self._run, pieces)

    def _run(self, pieces: Callable[[], Iterator[ZeekRead]]) -> None:
        try:
            for piece in pieces():
                if not self._put(piece):
                    return
            self._put(self._END)
        except BaseException as e:  # handed to the reader, raised in its thread
            self._put(_Failed(e))

    def _put(self, item) -> bool:
        while not self.stopped.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[ZeekRead]:
        while True:
            item = self.queue.get()
            if item is self._END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
            del item

    def wait_done(self) -> None:
        """Every piece was read: the producer has finished (so its thread is free)."""
        if not self.future.done():
            self.cancel()
        self.future.result()

    def cancel(self) -> None:
        self.stopped.set()
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
        self.future.cancel()


@dataclasses.dataclass
class _Failed:
    error: BaseException


# errors that say something about the file itself, not about the storage: retrying or waiting
# cannot change them, so the file is quarantined and the day goes on
_FILE_ERRNOS = {errno.ELOOP, errno.EACCES, errno.EPERM, errno.ENOENT, errno.EISDIR, errno.ENOTDIR}


def _about_the_file(e: OSError) -> bool:
    return isinstance(e, PermissionError | FileNotFoundError | IsADirectoryError) or (
        e.errno in _FILE_ERRNOS
    )
