"""Great Expectations on chunks: the day's verdict equals the whole-day one, uniqueness
across chunks included, without a whole-day pandas copy."""

from __future__ import annotations

import datetime as dt
import posixpath

import polars as pl
import pytest

from assets.lake import Lake
from assets.quality.chunked import ChunkAudit, chunk_plan
from assets.quality.ge_runner import validate_frame
from assets.simulate.run import simulate
from assets.validated.transform import RawFile, log_table, validate_partition

SENSOR = "pyongyang-tap"
DAY = dt.date(2017, 5, 16)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    lake = Lake(str(tmp_path_factory.mktemp("lake")))
    simulate(lake, start=DAY, end=DAY, sessions_per_day=300, inject_rate=0.02, seed=11)
    out = {}
    for table in ("conn", "http"):
        files = [
            RawFile(lake.raw_relpath(p), DAY, SENSOR, lambda p=p: lake.read_raw_bytes(p))
            for p in lake.raw_files(SENSOR, DAY)
            if log_table(posixpath.basename(p)) == table
        ]
        out[table] = validate_partition(files, table, DAY)
    return out


def _chunked(df: pl.DataFrame, suite: str, size: int):
    audit = ChunkAudit(suite, DAY.isoformat(), audit_rows=size, schema=df.schema)
    chunks = [df.slice(i, size) for i in range(0, df.height, size)]
    for chunk in chunks:
        audit.add(chunk)
    return audit.outcome(lambda cols: (c.select(cols) for c in chunks))


def _verdict(outcome) -> tuple[bool, set]:
    return outcome.success, {(f["expectation"], f["column"]) for f in outcome.failed}


def _cases(valid: pl.DataFrame) -> dict[str, pl.DataFrame]:
    first, last = valid.head(1), valid.tail(1)
    return {
        "clean": valid,
        # the same key in the first and the last chunk: only a day-wide check sees it
        "duplicate across chunks": pl.concat([valid, first]),
        "null key": pl.concat([valid, last.with_columns(pl.lit(None, pl.String).alias("uid"))]),
        "bad port": valid.with_columns(
            pl.when(pl.int_range(pl.len()) == 5)
            .then(-1)
            .otherwise(pl.col("id_orig_p"))
            .alias("id_orig_p")
        ),  # fmt: skip
        "empty": valid.clear(),
    }


@pytest.mark.parametrize("table", ["conn", "http"])
def test_chunk_verdicts_equal_the_whole_day_verdict(tables, table):
    valid = tables[table].valid
    assert valid.height > 40
    suite = f"validated.{table}"
    for name, frame in _cases(valid).items():
        whole = validate_frame(frame, suite, partition=DAY.isoformat())
        chunked = _chunked(frame, suite, size=17)
        assert _verdict(chunked) == _verdict(whole), name
        assert chunked.partition == whole.partition and chunked.suite == suite
    assert not _chunked(_cases(valid)["duplicate across chunks"], suite, 17).success


def test_the_quarantine_suite_on_chunks(tables):
    quarantine = tables["conn"].quarantine
    assert quarantine.height > 0
    whole = validate_frame(quarantine, "quarantine.records")
    assert _verdict(_chunked(quarantine, "quarantine.records", 3)) == _verdict(whole)


def test_a_suite_that_needs_the_whole_day_is_refused(monkeypatch):
    from assets.quality import suites

    spec = {
        "name": "t",
        "expectations": [
            {
                "type": "expect_column_mean_to_be_between",
                "kwargs": {"column": "a", "min_value": 0, "max_value": 1},
            }
        ],
    }
    monkeypatch.setattr(suites, "load_suite_json", lambda name: spec)
    chunk_plan.cache_clear()
    try:
        with pytest.raises(ValueError, match="suite t-mean: .*cannot be judged chunk by chunk"):
            chunk_plan("t-mean")
    finally:
        chunk_plan.cache_clear()


def test_uniqueness_is_judged_the_same_when_the_key_hashes_spill_to_disk(tables, monkeypatch):
    """A day whose key hashes outgrow their share of the budget keeps them in files split by
    hash: the duplicate across chunks is still found, and a clean day still passes."""
    import assets.quality.chunked as chunked

    valid = tables["conn"].valid
    cases = _cases(valid)
    whole = {name: _verdict(validate_frame(df, "validated.conn")) for name, df in cases.items()}
    from assets.quality.key_ledger import KeyLedger

    spilled = []

    class TinyLedger(KeyLedger):  # a few rows in memory, then files
        def __init__(self, memory_rows):
            super().__init__(5)
            spilled.append(self)

    monkeypatch.setattr(chunked, "KeyLedger", TinyLedger)
    for name, df in cases.items():
        assert _verdict(_chunked(df, "validated.conn", 37)) == whole[name], name
    assert any(ledger._files > 1 for ledger in spilled)


def test_the_key_ledger_finds_the_same_repeats_in_memory_and_spilled(tmp_path, monkeypatch):
    from assets.quality.key_ledger import KeyLedger

    monkeypatch.setenv("HERMIT_SPILL_DIR", str(tmp_path))
    values = pl.Series([5, None, 7, 5, 2**63 + 1, 9, None, 2**63 + 1, 7, 11], dtype=pl.UInt64)
    found = []
    for memory_rows in (10**6, 2):
        ledger = KeyLedger(memory_rows)
        for lo in range(0, values.len(), 3):
            ledger.add(values.slice(lo, 3))
        found.append(ledger.repeated().to_list())
    assert found[0] == found[1] == [0, 2, 3, 4, 7, 8]
    assert list(tmp_path.iterdir()) == []  # the spill files are gone with the verdict
