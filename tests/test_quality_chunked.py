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


def _witness_cases(valid: pl.DataFrame) -> dict[str, pl.DataFrame]:
    row = pl.int_range(pl.len())
    cases = _cases(valid)
    cases["nan duration"] = valid.with_columns(
        pl.when(row == 3).then(float("nan")).otherwise(pl.col("duration")).alias("duration")
    )
    cases["negative bytes late"] = valid.with_columns(
        pl.when(row == valid.height - 2)
        .then(-5)
        .otherwise(pl.col("orig_bytes"))
        .alias("orig_bytes")
    )
    cases["unknown proto"] = valid.with_columns(
        pl.when(row == 7).then(pl.lit("sctp?")).otherwise(pl.col("proto")).alias("proto")
    )
    cases["null ts"] = valid.with_columns(
        pl.when(row == 1).then(None).otherwise(pl.col("ts")).alias("ts")
    )
    return cases


def test_witness_rows_judge_as_the_chunks_rows(tables, monkeypatch):
    """The day's verdict and failure reports from witness rows are those of GE on every
    held batch of rows (the route without witnesses)."""
    import assets.quality.chunked as chunked

    valid = tables["conn"].valid
    got = {name: _chunked(f, "validated.conn", 17) for name, f in _witness_cases(valid).items()}
    monkeypatch.setattr(chunked, "witness_columns", lambda spec: None)
    for name, frame in _witness_cases(valid).items():
        held = _chunked(frame, "validated.conn", 17)
        assert (got[name].success, got[name].failed) == (held.success, held.failed), name
    assert not got["unknown proto"].success and not got["negative bytes late"].success


def test_witnesses_of_a_chunk():
    from assets.quality.witness import witnesses

    df = pl.DataFrame(
        {
            "a": [3.0, float("nan"), None, -1.0, 7.5],
            "b": ["x", "y", "x", "z", "y"],
            "c": [5, 1, 9, 2, 2],
        }
    )
    w = witnesses(df, {"a": "range", "b": "set", "c": "range"})
    assert w.height == 4
    assert sorted(w["a"].drop_nulls().drop_nans().to_list()) == [-1.0, 7.5]
    assert w["a"].null_count() == 1 and w["a"].is_nan().sum() == 1
    assert set(w["b"]) == {"x", "y", "z"} and set(w["c"]) == {1, 9}


def test_length_checks_are_judged_on_one_value_of_each_length(monkeypatch):
    """A value-length expectation (the sessions' two-letter countries) has witnesses too: one
    value per length, so a single three-letter value late in the day fails the day as GE on
    the rows does, with the same report."""
    import assets.quality.chunked as chunked
    from assets.quality import suites
    from assets.quality.witness import witness_columns, witnesses

    spec = {
        "name": "t-len",
        "expectations": [
            {
                "type": "expect_column_value_lengths_to_equal",
                "kwargs": {"column": "cc", "value": 2},
            },
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "cc"}},
        ],
    }
    assert witness_columns(spec) == {"cc": "length"}
    w = witnesses(pl.DataFrame({"cc": ["KP", "CN", None, "USA", "JP"]}), {"cc": "length"})
    assert sorted(w["cc"].drop_nulls().str.len_chars().to_list()) == [2, 3]
    assert w["cc"].null_count() == 1

    monkeypatch.setattr(suites, "load_suite_json", lambda name: spec)
    chunk_plan.cache_clear()
    try:
        good = pl.DataFrame({"cc": ["KP", "CN", None, "RU"] * 30})
        bad = pl.concat([good, pl.DataFrame({"cc": ["USA"]}), good])
        got = {n: _chunked(f, "t-len", 11) for n, f in (("good", good), ("bad", bad))}
        monkeypatch.setattr(chunked, "witness_columns", lambda spec: None)
        for name, frame in (("good", good), ("bad", bad)):
            held = _chunked(frame, "t-len", 11)
            assert (got[name].success, got[name].failed) == (held.success, held.failed), name
        assert not got["bad"].success
        assert {f["expectation"] for f in got["bad"].failed} == {
            "expect_column_value_lengths_to_equal",
            "expect_column_values_to_not_be_null",
        }
    finally:
        chunk_plan.cache_clear()
