"""Raw flow files -> one validated `flows` partition + its quarantine. Pure: no I/O.

The time rule is the Zeek tables' (docs/architecture.md), with a flow's `start` as its time:
partition D reads folders D..D+L; a record of folder F that its reader could decode, whose
start falls in F-L <= day(start) <= F, belongs to partition day(start), which runs every
other check on it; any other record of folder F is quarantined by partition F (undecodable,
no start, or `late` / `future`). Every row a reader gives is one raw record (a flow line or
decoded record, or one entry for a packet, data set or file that could not be read), so
`raw_records = valid - from_later_folders + quarantined + to_earlier_partitions` holds.

Streaming, as the Zeek tables (assets/validated/transform.py): each file is read, checked and
its sound rows typed and set aside in a spill (local disk past one chunk); duplicates are
found across the day on 64-bit hashes of the key, compared exactly on a hash hit; then the
valid rows are written in start order window by window (ties in read order), the quarantine
by source file and line. `validate_flows` collects the same chunks into one frame.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Iterable

import numpy as np
import polars as pl

from assets.flows.checks import judge, owner
from assets.flows.readers import read_flow_file
from assets.flows.schema import DEDUP_KEY, FLOWS_SCHEMA, QUARANTINE_SCHEMA, REASONS
from assets.memory import check_budget
from assets.memory import chunk_rows as budget_chunk_rows
from assets.repeats import RepeatFinder
from assets.validated.fold import key_hashes
from assets.validated.spill import Spill, ordered_windows
from assets.validated.transform import (
    HASHES_HELD_CHUNKS,
    RawFile,
    Sink,
    ValidationResult,
    _Collect,
    write_quarantine,
)

# In-memory width of a sound flow row at its widest (typed row beside the file's raw text
# and the output's copy): what a chunk of rows costs, for the memory budget.
ROW_BYTES = 1024
_SEQ = "__seq"  # a sound row's place in the day's read order (ties of start keep it)
_QSEQ = "__qseq"  # a quarantine row's place in the order its entries were found
_SECONDS = 86_400
# the dedup key with the exporter as its id (the file's strings are attached at the end)
_KEY = ["__exporter" if c == "exporter" else c for c in DEDUP_KEY]


def default_chunk_rows() -> int:
    """Rows of one chunk under HERMIT_MEMORY_BUDGET."""
    return budget_chunk_rows(ROW_BYTES)


def validate_flows(
    files: Iterable[RawFile], day: dt.date, lateness_days: int = 1, *, chunk_rows: int | None = None
) -> ValidationResult:
    """Validate the flow records owned by partition `day` among `files` (folders day..day+L).
    The whole partition in memory (see `stream_flows` for writing it as it goes)."""
    valid, quarantine = _Collect(), _Collect()
    counts = stream_flows(files, day, lateness_days, valid, quarantine, chunk_rows=chunk_rows)
    return ValidationResult(valid.frame(FLOWS_SCHEMA), quarantine.frame(QUARANTINE_SCHEMA), counts)


def stream_flows(
    files: Iterable[RawFile],
    day: dt.date,
    lateness_days: int,
    valid_out: Sink,
    quarantine_out: Sink,
    *,
    chunk_rows: int | None = None,
) -> dict[str, int]:
    """`validate_flows`, written chunk by chunk: `valid_out` gets the valid rows in start
    order (FLOWS_SCHEMA), `quarantine_out` the quarantine rows by source file and line
    (QUARANTINE_SCHEMA), in frames of about `chunk_rows` rows (a second of start, or a source
    file, is never split). Returns the day's counts."""
    rows = chunk_rows or default_chunk_rows()
    with (
        Spill(rows, ["start", _SEQ], "flows-valid") as valid,
        Spill(rows, ["source_file", "line_number"], "flows-quarantine") as quarantined,
        RepeatFinder(HASHES_HELD_CHUNKS * rows, "flows-keys") as keys,
    ):
        fold = _FlowFold(day, lateness_days, valid, quarantined, keys)
        fold.read(files)
        fold.add_duplicates()
        check_budget(f"validate flows {day}")
        counts = fold.counts
        counts["valid"] = _write_valid(fold, valid_out, rows)
        by_reason = _write_quarantine(fold, quarantine_out, rows)
        counts["quarantined"] = sum(by_reason.values())
        counts |= {f"quarantined_{r}": int(by_reason.get(r, 0)) for r in REASONS}
        counts |= {f"format_{f}": n for f, n in sorted(fold.formats.items())}
        return counts


class _FlowFold:
    """The day's files folded in one by one: sound rows typed into the valid spill (with
    their key hashes and a histogram of their start), flagged ones with their raw text into
    the quarantine spill; nothing else of a file is kept."""

    def __init__(
        self,
        day: dt.date,
        lateness_days: int,
        valid: Spill,
        quarantined: Spill,
        keys: RepeatFinder,
    ):
        self.day, self.lateness_days = day, lateness_days
        self.valid, self.quarantined = valid, quarantined
        self.files: list[RawFile] = []
        self.file_formats: list[str | None] = []
        self.formats: dict[str, int] = {}
        self.keys = keys  # the sound rows' key hashes, in seq order
        self.per_second = np.zeros(_SECONDS, dtype=np.int64)
        self.sources: dict[str | None, int] = {}  # quarantine rows per source file
        self.duplicates = pl.Series(_SEQ, [], dtype=pl.UInt64)
        self.seq = self.qseq = 0
        self.counts = {"raw_records": 0, "to_earlier_partitions": 0, "from_later_folders": 0}
        # the Zeek tables' reconciliation terms that flows never have (no un-rotated files),
        # so every validated materialisation reconciles by the same formula
        self.counts |= {"from_earlier_folders": 0, "to_later_partitions": 0}

    def read(self, files: Iterable[RawFile]) -> None:
        day = self.day
        last_folder = day + dt.timedelta(days=self.lateness_days)
        self.files = sorted(
            (f for f in files if day <= f.folder_day <= last_folder),
            key=lambda f: (f.folder_day, f.sensor, f.source_file),
        )
        exporters = {e: i for i, e in enumerate(sorted({f.sensor for f in self.files}))}
        for file_id, raw_file in enumerate(self.files):
            name = posixpath.basename(raw_file.source_file)
            rows, fmt = read_flow_file(raw_file.load(), name)
            self.file_formats.append(fmt)
            rows = rows.with_row_index("__index").with_columns(
                owner(raw_file.folder_day, self.lateness_days).alias("__owner")
            )
            if raw_file.folder_day == day:
                self.counts["raw_records"] += rows.height
                self.formats[fmt] = self.formats.get(fmt, 0) + rows.height
                self.counts["to_earlier_partitions"] += rows.filter(pl.col("__owner") < day).height
            mine = rows.filter(pl.col("__owner") == day)
            del rows
            if raw_file.folder_day != day:
                self.counts["from_later_folders"] += mine.height
            if mine.height:
                # judged file by file: only the flagged rows keep their raw text
                good, flagged = judge(
                    mine.with_columns(
                        pl.lit(raw_file.sensor).alias("exporter"),
                        pl.lit(raw_file.source_file).alias("source_file"),
                        pl.lit(raw_file.folder_day).alias("__folder"),
                        pl.lit(file_id, pl.UInt32).alias("__file"),
                        pl.lit(exporters[raw_file.sensor], pl.UInt32).alias("__exporter"),
                    ),
                    self.lateness_days,
                )
                del mine
                self._sound(good)
                self._quarantine(flagged)
            check_budget(f"validate flows {day} ({raw_file.source_file})")

    def _sound(self, good: pl.DataFrame) -> None:
        if good.height == 0:
            return
        good = good.with_columns((pl.int_range(pl.len(), dtype=pl.UInt64) + self.seq).alias(_SEQ))
        self.seq += good.height
        self.keys.add(key_hashes(good, _KEY))
        seconds = good.select(
            ((pl.col("start").dt.epoch("us") - _epoch_us(self.day)) // 1_000_000)
            .clip(0, _SECONDS - 1)
            .fill_null(0)
        ).to_series()
        self.per_second += np.bincount(seconds.to_numpy(), minlength=_SECONDS)
        self.valid.append(good)

    def _quarantine(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        frame = frame.with_columns(
            (pl.int_range(pl.len(), dtype=pl.UInt64) + self.qseq).alias(_QSEQ)
        )
        self.qseq += frame.height
        for source, n in frame.group_by("source_file").len().iter_rows():
            self.sources[source] = self.sources.get(source, 0) + n
        self.quarantined.append(frame)

    def add_duplicates(self) -> None:
        """Quarantine the sound rows whose key was seen before in the day (read order): 64-bit
        hashes of every key first, then only the rows whose hash repeats are compared
        exactly, so a hash collision never drops a record."""
        candidates = self.keys.repeated()
        if candidates.len() == 0:
            return
        wanted = [_SEQ, *_KEY, "__file", "line_number", "__index"]
        exact = self.valid.select(pl.col(_SEQ).is_in(candidates.implode()), wanted).sort(_SEQ)
        later = exact.filter(~exact.select(pl.struct(_KEY).is_first_distinct()).to_series())
        if later.height == 0:
            return
        self.duplicates = later.get_column(_SEQ)
        self._quarantine(
            _duplicate_entries(later.select("__file", "line_number", "__index"), self.files)
        )


def _duplicate_entries(repeats: pl.DataFrame, files: list[RawFile]) -> pl.DataFrame:
    """Quarantine entries of the repeated flows (``__file``, ``line_number``, ``__index``, in
    read order), whose raw text is read again from their few files."""
    quoted = [pl.DataFrame(schema=QUARANTINE_SCHEMA)]
    for (file_id,), group in repeats.group_by("__file", maintain_order=True):
        f = files[file_id]  # type: ignore[index]
        name = f.source_file
        rows = read_flow_file(f.load(), posixpath.basename(name))[0].with_row_index("__index")
        text = rows.select("__index", "raw")
        quoted.append(
            group.join(text, on="__index", how="left", maintain_order="left").select(
                pl.lit("duplicate").alias("reason"),
                pl.lit(
                    "the same flow (exporter, times, addresses, ports, protocol, counts) "
                    "came before in this partition"
                ).alias("detail"),
                pl.lit(name).alias("source_file"),
                "line_number",
                "raw",
                pl.lit(f.sensor).alias("exporter"),
            )
        )
    return pl.concat(quoted, how="vertical_relaxed").select(
        [pl.col(c).cast(t) for c, t in QUARANTINE_SCHEMA.items()]
    )


def _epoch_us(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1_000_000


def _write_valid(fold: _FlowFold, out: Sink, rows: int) -> int:
    """The sound rows that are not duplicates, in start order (ties in read order), window
    by window of whole seconds of the day, with their exporter and format named."""
    written = 0
    dups = fold.duplicates
    keep = ~pl.col(_SEQ).is_in(dups.implode()) if dups.len() else None
    ids = list(range(len(fold.files)))
    named = {
        "exporter": pl.col("__file").replace_strict(
            ids, [f.sensor for f in fold.files], return_dtype=pl.String
        ),
        "format": pl.col("__file").replace_strict(ids, fold.file_formats, return_dtype=pl.String),
    }
    for frame in ordered_windows(
        fold.valid, fold.per_second.tolist(), rows, fold.day, ["start", _SEQ], keep
    ):
        frame = frame.with_columns(**named).select(list(FLOWS_SCHEMA))
        out.write(frame)
        written += frame.height
        del frame
        check_budget(f"validate flows {fold.day}")
    return written


def _write_quarantine(fold: _FlowFold, out: Sink, rows: int) -> dict[str, int]:
    return write_quarantine(fold.sources, fold.quarantined, out, rows, QUARANTINE_SCHEMA)
