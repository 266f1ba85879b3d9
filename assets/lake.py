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
import io
import os
import posixpath
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import fsspec
import polars as pl
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
    "RawFile",
    "with_retries",
]


# zstd with column statistics; polars writes standard Parquet types (UTF8 strings, INT64
# microsecond UTC timestamps) that DuckDB, pyarrow, polars and Spark read as they are.
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "statistics": True}
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


def _arrival_time(info: dict) -> float:
    """When a file reached the store: S3's LastModified is the upload time; locally a copy
    that preserves mtime (cp -p, rsync -t) still gets a fresh ctime, so take the later."""
    modified = info.get("LastModified") or info.get("mtime") or 0
    if isinstance(modified, dt.datetime):
        modified = modified.timestamp()
    return max(float(modified), float(info.get("created") or 0))
