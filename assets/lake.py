"""The lake: every read and write of hermit goes through here (fsspec: local paths or s3://).

Partitions are written atomically: the new files go to a hidden staging directory beside the
partition, then replace the partition in one rename, so readers never see half a partition
and re-running a partition replaces it.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TypeVar

import fsspec
import polars as pl
import pyarrow.parquet as pq

T = TypeVar("T")

PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "statistics": True}
TRANSIENT_ERRORS = (OSError, TimeoutError, ConnectionError)


def with_retries(fn: Callable[[], T], attempts: int = 4, base_delay: float = 0.2) -> T:
    """Retry a storage call on transient errors (network blips on S3), with backoff."""
    for attempt in range(attempts):
        try:
            return fn()
        except FileNotFoundError:
            raise
        except TRANSIENT_ERRORS:
            if attempt == attempts - 1:
                raise
            time.sleep(base_delay * 2**attempt)
    raise AssertionError("unreachable")


def _storage_options_from_env(url: str) -> dict:
    import os

    if not url.startswith("s3://"):
        return {}
    opts: dict = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["endpoint_url"] = endpoint
    return opts


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
        self.is_local = (
            self.fs.protocol in ("file", ("file", "local")) or "file" in self.fs.protocol
        )

    # ---- paths -------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return posixpath.join(self._root_path, *parts)

    def url(self, *parts: str) -> str:
        """A path with its protocol, for tools outside fsspec (DuckDB, BI)."""
        p = self.path(*parts)
        return (
            p
            if self.is_local
            else f"{self.fs.protocol[0] if isinstance(self.fs.protocol, tuple) else self.fs.protocol}://{p}"
        )

    def partition_dir(self, zone: str, table: str, day: dt.date) -> str:
        return self.path(zone, table, f"date={day.isoformat()}")

    # ---- partitions --------------------------------------------------------------------------
    def write_partition(self, zone: str, table: str, day: dt.date, df: pl.DataFrame) -> str:
        """Replace partition `day` of `zone/table` with `df`, atomically."""
        final = self.partition_dir(zone, table, day)
        parent = posixpath.dirname(final)
        staging = posixpath.join(parent, f".staging-{day.isoformat()}-{uuid.uuid4().hex[:12]}")
        self.fs.makedirs(staging, exist_ok=True)
        part = posixpath.join(staging, "part-0.parquet")
        table_arrow = df.to_arrow()
        with_retries(lambda: self._write_parquet(table_arrow, part))
        self._swap_in(staging, final)
        return final

    def _write_parquet(self, table, path: str) -> None:
        with self.fs.open(path, "wb") as fh:
            pq.write_table(table, fh, **PARQUET_OPTIONS)

    def _swap_in(self, staging: str, final: str) -> None:
        if self.is_local:
            # rename(2) of a directory is atomic; move the old one aside first, drop it after.
            import os
            import shutil

            old = None
            if os.path.exists(final):
                old = f"{staging}.old"
                os.rename(final, old)
            os.rename(staging, final)
            if old:
                shutil.rmtree(old, ignore_errors=True)
        else:
            # Object stores have no directory rename: copy the finished files into place under
            # fresh names, then delete the old ones. Readers list part-*.parquet files.
            with_retries(lambda: self._object_store_swap(staging, final))

    def _object_store_swap(self, staging: str, final: str) -> None:
        old = self.fs.ls(final, detail=False) if self.fs.exists(final) else []
        src = posixpath.join(staging, "part-0.parquet")
        dst = posixpath.join(final, "part-0.parquet")
        self.fs.copy(src, dst)
        for p in old:
            if posixpath.basename(p) != "part-0.parquet":
                self.fs.rm(p, recursive=True)
        self.fs.rm(staging, recursive=True)
        self.fs.invalidate_cache()

    def has_partition(self, zone: str, table: str, day: dt.date) -> bool:
        return self.fs.exists(
            posixpath.join(self.partition_dir(zone, table, day), "part-0.parquet")
        )

    def read_partition(self, zone: str, table: str, day: dt.date) -> pl.DataFrame | None:
        """The partition's rows, or None when it has never been written."""
        path = posixpath.join(self.partition_dir(zone, table, day), "part-0.parquet")
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "rb") as fh:
            return pl.read_parquet(fh)

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
        base = self.path(zone, table)
        if not self.fs.exists(base):
            return []
        days = []
        for p in self.fs.ls(base, detail=False):
            name = posixpath.basename(p.rstrip("/"))
            if name.startswith("date="):
                days.append(dt.date.fromisoformat(name[5:]))
        return sorted(days)

    # ---- raw zone -----------------------------------------------------------------------------
    def raw_path(self, *parts: str) -> str:
        return posixpath.join(self._raw_path, *parts)

    def raw_sensors(self) -> list[str]:
        base = self.raw_path("zeek")
        if not self.raw_fs.exists(base):
            return []
        return sorted(
            posixpath.basename(p.rstrip("/"))
            for p in self.raw_fs.ls(base, detail=False)
            if self.raw_fs.isdir(p)
        )

    def raw_folder(self, sensor: str, day: dt.date) -> str:
        return self.raw_path("zeek", sensor, day.isoformat())

    def raw_files(self, sensor: str, day: dt.date) -> list[str]:
        folder = self.raw_folder(sensor, day)
        if not self.raw_fs.exists(folder):
            return []
        return sorted(p for p in self.raw_fs.ls(folder, detail=False) if not self.raw_fs.isdir(p))

    def raw_relpath(self, path: str) -> str:
        return posixpath.relpath(path, self._raw_path)

    def read_raw_bytes(self, path: str) -> bytes:
        """The file's bytes as stored (still compressed: the reader decides how to inflate)."""
        return with_retries(lambda: self.raw_fs.cat_file(path))

    # ---- plain files (reports, ground truth) -------------------------------------------------
    def write_bytes(self, relpath: str, data: bytes) -> str:
        path = self.path(relpath)
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        with_retries(lambda: self.fs.pipe_file(tmp, data))
        self.fs.mv(tmp, path)
        return path

    def read_bytes(self, relpath: str) -> bytes:
        return with_retries(lambda: self.fs.cat_file(self.path(relpath)))

    def exists(self, relpath: str) -> bool:
        return self.fs.exists(self.path(relpath))
