"""The lake: every read and write of hermit goes through here (fsspec: local paths or s3://).

Partition writes are atomic and serialised, and may stream:

- `partition_writer` appends a day chunk by chunk (row groups of one `part-0.parquet`), so a
  partition of any size is written in bounded memory; `iter_partition` reads it back row
  group by row group; `write_partition(df)` is the one-chunk case;

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
import io
import os
import posixpath
import threading
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from assets.lake_locks import LOCK_DIR, LockTimeout, PartitionLocks, _LockHandle
from assets.storage import (
    PERMANENT_ERRORS,
    TRANSIENT_ERRORS,
    _fsync_dir,
    _is_local,
    with_retries,
)

__all__ = [
    "LOCK_DIR",
    "PERMANENT_ERRORS",
    "TRANSIENT_ERRORS",
    "Lake",
    "LockTimeout",
    "PartitionWriter",
    "RawFile",
    "with_retries",
]


# zstd with column statistics; polars writes standard Parquet types (UTF8 strings, INT64
# microsecond UTC timestamps) that DuckDB, pyarrow, polars and Spark read as they are.
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "statistics": True}
# BI engines (DuckDB, Spark, Trino) parallelise and skip by row group: ~1M rows each keeps
# a group's statistics selective and its decode a few tens of MiB.
ROW_GROUP_ROWS = 1_000_000
PART = "part-0.parquet"
STAGING_DIR = "_staging"


def _storage_options_from_env(url: str) -> dict:
    if not url.startswith("s3://"):
        return {}
    opts: dict = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["endpoint_url"] = endpoint
    return opts


@dataclass(frozen=True)
class RawFile:
    """One raw log file as the lake lists it."""

    path: str
    sensor: str
    day: dt.date  # the folder's day
    modified: float  # when it arrived (epoch seconds, the store's own clock)
    size: int


class Lake(PartitionLocks):
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
        with self.partition_writer(zone, table, day, schema=df.schema) as writer:
            writer.write(df)
        return writer.published_dir  # type: ignore[return-value]

    def partition_writer(
        self,
        zone: str,
        table: str,
        day: dt.date,
        schema: pl.Schema | dict | None = None,
        row_group_rows: int | None = None,
    ) -> PartitionWriter:
        """A writer that replaces partition `day` of `zone/table` with the chunks given to it.

        Use it as a context manager: `with lake.partition_writer(z, t, d, schema) as w:
        w.write(chunk)` appends each chunk to one staged `part-0.parquet` (row groups of
        `row_group_rows`, default ROW_GROUP_ROWS), and the normal end of the `with` publishes
        it atomically; an exception, or `w.discard()`, publishes nothing and removes the
        staged file. Without `with`, call `publish()` or `discard()`. `w.finish()` completes
        the staged file first, and `w.iter_staged(columns)` reads it back (to audit it before
        deciding). The writer holds the
        partition's lock from its creation to its publish or discard (in the creating
        thread; reentrant): to write several partitions at once, take them together first
        with `lock_partitions` so two writers cannot deadlock.
        `schema` (polars) fixes the columns and types; without it the first chunk does. Every
        chunk must have the same column names (in any order) and is cast to the schema.
        """
        return PartitionWriter(self, zone, table, day, schema, row_group_rows or ROW_GROUP_ROWS)

    def iter_partition(
        self,
        zone: str,
        table: str,
        day: dt.date,
        columns: Iterable[str] | None = None,
        batch_rows: int | None = None,
    ) -> Iterator[pl.DataFrame]:
        """The partition's rows as polars frames, one per row group (or of at most
        `batch_rows` rows), in file order, never an empty frame: nothing for an empty
        partition or one never written.

        Only one row group (or batch) is decoded at a time. columns: as in `read_partition`.
        The file stays open for the whole iteration, so a publish meanwhile cannot mix two
        versions locally; on S3 every ranged read is conditional on the object's ETag, so a
        replacement meanwhile makes the iteration fail instead of mixing versions.
        """
        path = posixpath.join(self.partition_dir(zone, table, day), PART)
        return self._iter_file(path, columns, batch_rows)

    def _iter_file(
        self, path: str, columns: Iterable[str] | None, batch_rows: int | None
    ) -> Iterator[pl.DataFrame]:
        try:
            fh = with_retries(lambda: self.fs.open(path, "rb"))
        except FileNotFoundError:
            return
        with fh:
            parquet = pq.ParquetFile(fh)
            present = None
            if columns is not None:
                wanted = list(columns)
                present = [c for c in wanted if c in parquet.schema_arrow.names]
            if batch_rows is None:
                for i in range(parquet.num_row_groups):
                    if parquet.metadata.row_group(i).num_rows:
                        yield _to_polars(parquet.read_row_group(i, columns=present))
            else:
                for batch in parquet.iter_batches(batch_size=batch_rows, columns=present):
                    if batch.num_rows:
                        yield _to_polars(pa.Table.from_batches([batch]))

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

    def open_raw(self, path: str) -> BinaryIO:
        """The file open for reading as stored, to stream it (close it when done)."""
        return with_retries(lambda: self.raw_fs.open(path, "rb"))

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


def _to_polars(table: pa.Table) -> pl.DataFrame:
    return pl.from_arrow(table)  # type: ignore[return-value]


class PartitionWriter:
    """One partition being replaced, chunk by chunk (see `Lake.partition_writer`)."""

    def __init__(
        self,
        lake: Lake,
        zone: str,
        table: str,
        day: dt.date,
        schema: pl.Schema | dict | None,
        row_group_rows: int,
    ):
        if row_group_rows < 1:
            raise ValueError(f"row_group_rows must be at least 1, not {row_group_rows}")
        self.lake, self.zone, self.table, self.day = lake, zone, table, day
        self.schema = None if schema is None else pl.Schema(schema)
        self.row_group_rows = row_group_rows
        self.rows = 0  # rows written so far
        self.row_groups = 0
        self.published_dir: str | None = None
        self._final = posixpath.join(lake.partition_dir(zone, table, day), PART)
        self._staging = posixpath.join(lake._staging_dir(zone, table, day), uuid.uuid4().hex, PART)
        self._pending: list[pl.DataFrame] = []
        self._pending_rows = 0
        self._fh = None
        self._writer: pq.ParquetWriter | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: Future | None = None
        self._finished = False  # the staged file is complete
        self._done = False  # published or discarded
        # Held until publish/discard: taking it clears what dead writers left in staging,
        # so it must come before our own staged file exists.
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(lake.partition_lock(zone, table, day))

    def __enter__(self) -> PartitionWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._done:
            return
        if exc_type is None:
            self.publish()
        else:
            self.discard()

    def write(self, df: pl.DataFrame) -> None:
        """Append `df`'s rows (whole row groups are written as they fill up)."""
        if self._done or self._finished:
            raise RuntimeError(f"{self._name()}: write after finish, publish or discard")
        if self.schema is None:
            self.schema = df.schema
        if set(df.columns) != set(self.schema.names()) or len(df.columns) != len(self.schema):
            raise ValueError(
                f"{self._name()}: chunk columns {df.columns} differ from the partition's "
                f"{self.schema.names()}"
            )
        if df.schema != self.schema:
            df = df.select(pl.col(n).cast(t) for n, t in self.schema.items())
        if df.height == 0:
            return
        self._pending.append(df)
        self._pending_rows += df.height
        while self._pending_rows >= self.row_group_rows:
            merged = pl.concat(self._pending, rechunk=False)
            self._write_group(merged.slice(0, self.row_group_rows))
            rest = merged.slice(self.row_group_rows)
            self._pending = [rest] if rest.height else []
            self._pending_rows = rest.height

    def finish(self) -> None:
        """Complete the staged file without publishing it (to audit it first: see
        `iter_staged`); `publish` or `discard` still decide. No `write` after this."""
        if self._done:
            raise RuntimeError(f"{self._name()}: already published or discarded")
        if self._finished:
            return
        if self._pending_rows or self._writer is None:
            self._write_group(pl.concat(self._pending) if self._pending else None)
        self._pending, self._pending_rows = [], 0
        self._close_file()
        self._finished = True

    def iter_staged(
        self, columns: Iterable[str] | None = None, batch_rows: int | None = None
    ) -> Iterator[pl.DataFrame]:
        """The staged rows (after `finish`), as `Lake.iter_partition` gives a partition's."""
        if not self._finished or self._done:
            raise RuntimeError(f"{self._name()}: iter_staged needs a finished, unpublished file")
        return self.lake._iter_file(self._staging, columns, batch_rows)

    def publish(self) -> str:
        """Finish the staged file and make it the partition, atomically, under its lock."""
        if self._done:
            raise RuntimeError(f"{self._name()}: already published or discarded")
        try:
            self.finish()
            self.lake._publish(self._staging, self._final)
        except BaseException:
            self.discard()
            raise
        self._done = True
        self._lock.close()
        self.published_dir = posixpath.dirname(self._final)
        return self.published_dir

    def discard(self) -> None:
        """Publish nothing: the partition stays as it was, the staged file is removed."""
        self._done = True
        self._pending, self._pending_rows = [], 0
        with contextlib.suppress(Exception):
            self._close_file()
        try:
            with contextlib.suppress(FileNotFoundError):
                self.lake.fs.rm(posixpath.dirname(self._staging), recursive=True)
        finally:
            self._lock.close()

    def _name(self) -> str:
        return f"{self.zone}/{self.table} {self.day}"

    def _open(self, schema: pa.Schema) -> None:
        self.lake.fs.makedirs(posixpath.dirname(self._staging), exist_ok=True)
        self._fh = with_retries(lambda: self.lake.fs.open(self._staging, "wb"))
        self._writer = pq.ParquetWriter(
            self._fh,
            schema,
            compression=PARQUET_OPTIONS["compression"],
            compression_level=PARQUET_OPTIONS["compression_level"],
            write_statistics=PARQUET_OPTIONS["statistics"],
        )

    def _write_group(self, df: pl.DataFrame | None) -> None:
        if df is None:  # an empty partition: the file still carries the schema
            df = pl.DataFrame(schema=self.schema or {})
        # oldest compat level: plain (large) strings, which every Parquet reader knows.
        # Made here, not in the writer thread: that held the frame and its copy beside the
        # next chunk (+200 MiB at 10M conn records).
        table = df.to_arrow(compat_level=pl.CompatLevel.oldest())
        self.rows += df.height
        self.row_groups += df.height > 0
        # Encoding and compressing a row group is a thread of its own (pyarrow releases
        # the GIL), so the caller computes the next chunk meanwhile: one group in flight.
        self._wait_group()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="hermit-write")
        self._inflight = self._pool.submit(self._encode_group, table)

    def _encode_group(self, table: pa.Table) -> None:
        if self._writer is None:
            self._open(table.schema)
        assert self._writer is not None
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))

    def _wait_group(self) -> None:
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            inflight.result()  # a failed write raises here, in the caller

    def _close_file(self) -> None:
        try:
            self._wait_group()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._fh is not None:
            if self.lake.is_local:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


def _arrival_time(info: dict) -> float:
    """When a file reached the store: S3's LastModified is the upload time; locally a copy
    that preserves mtime (cp -p, rsync -t) still gets a fresh ctime, so take the later."""
    modified = info.get("LastModified") or info.get("mtime") or 0
    if isinstance(modified, dt.datetime):
        modified = modified.timestamp()
    return max(float(modified), float(info.get("created") or 0))
