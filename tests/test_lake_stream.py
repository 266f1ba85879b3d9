"""Streaming partition writes and chunked reads, on local disk and on S3 (moto's server)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from assets.lake import Lake

DAY = dt.date(2017, 4, 2)


def _frame(start: int, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": pl.Series(range(start, start + n), dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "uid": [f"C{i}" for i in range(start, start + n)],
            "answers": [[f"10.0.0.{i % 7}"] if i % 3 else None for i in range(start, start + n)],
            "n": pl.Series(
                [None if i % 5 == 0 else i for i in range(start, start + n)], dtype=pl.Int32
            ),
        }
    )


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def lake(request, tmp_path):
    if request.param == "local":
        return Lake(str(tmp_path / "lake"))
    bucket = request.getfixturevalue("s3_bucket")
    return Lake(f"{bucket.url}/lake")


def _staged(lake: Lake) -> list[str]:
    try:
        return [p for p in lake.fs.find(lake.path("_staging")) if not p.endswith("/")]
    except FileNotFoundError:
        return []


def test_chunks_become_row_groups_of_one_published_file(lake):
    chunks = [_frame(0, 7), _frame(7, 1), _frame(8, 0), _frame(8, 12)]
    with lake.partition_writer("validated", "dns", DAY, row_group_rows=5) as w:
        for c in chunks:
            w.write(c)
        # nothing is visible before the end of the `with`
        assert lake.read_partition("validated", "dns", DAY) is None
    whole = pl.concat(chunks)
    assert w.rows == 20 and w.row_groups == 4
    got = lake.read_partition("validated", "dns", DAY)
    assert got.equals(whole) and got.schema == whole.schema
    groups = list(lake.iter_partition("validated", "dns", DAY))
    assert [g.height for g in groups] == [5, 5, 5, 5]
    assert pl.concat(groups).equals(whole)
    batches = list(lake.iter_partition("validated", "dns", DAY, ["uid", "absent"], batch_rows=3))
    assert max(b.height for b in batches) == 3 and all(b.columns == ["uid"] for b in batches)
    assert pl.concat(batches)["uid"].to_list() == whole["uid"].to_list()
    assert lake.partition_rows("validated", "dns", DAY) == 20
    assert _staged(lake) == []


def test_a_failed_or_discarded_write_leaves_the_old_partition(lake):
    lake.write_partition("validated", "conn", DAY, _frame(0, 3))
    writer = lake.partition_writer("validated", "conn", DAY, row_group_rows=2)
    with pytest.raises(RuntimeError, match="parser died"), writer as w:
        w.write(_frame(100, 5))  # two row groups already staged
        raise RuntimeError("parser died")
    with lake.partition_writer("validated", "conn", DAY) as w:
        w.write(_frame(200, 4))
        w.discard()
    assert lake.read_partition("validated", "conn", DAY).equals(_frame(0, 3))
    assert _staged(lake) == []
    # the lock was released: another writer gets in at once
    with lake.partition_lock("validated", "conn", DAY, timeout=1):
        pass


def test_chunks_are_cast_to_the_schema_and_mismatches_named(lake):
    schema = _frame(0, 3).schema
    with lake.partition_writer("validated", "dns", DAY, schema=schema) as w:
        w.write(_frame(0, 2).select(reversed(schema.names())))  # order of columns does not matter
        w.write(_frame(2, 2).with_columns(pl.col("n").cast(pl.Int64)))
    got = lake.read_partition("validated", "dns", DAY)
    assert got.schema == schema and got.equals(_frame(0, 4))
    writer = lake.partition_writer("validated", "dns", DAY, schema=schema)
    named = r"validated/dns 2017-04-02: chunk columns \['uid'\]"
    with pytest.raises(ValueError, match=named), writer as w:
        w.write(pl.DataFrame({"uid": ["x"]}))
    assert lake.read_partition("validated", "dns", DAY).equals(_frame(0, 4))


def test_an_empty_partition_keeps_its_schema(lake):
    schema = _frame(0, 3).schema
    with lake.partition_writer("quarantine", "dns", DAY, schema=schema):
        pass
    got = lake.read_partition("quarantine", "dns", DAY)
    assert got.height == 0 and got.schema == schema
    assert list(lake.iter_partition("quarantine", "dns", DAY)) == []
    assert list(lake.iter_partition("quarantine", "dns", DAY + dt.timedelta(days=1))) == []


def test_a_staged_partition_can_be_read_back_before_it_is_published(lake):
    lake.write_partition("validated", "http", DAY, _frame(0, 2))
    writer = lake.partition_writer("validated", "http", DAY, row_group_rows=4)
    writer.write(_frame(10, 6))
    writer.finish()
    staged = list(writer.iter_staged(["uid"]))
    assert [g.height for g in staged] == [4, 2]
    assert pl.concat(staged)["uid"].to_list() == _frame(10, 6)["uid"].to_list()
    assert lake.read_partition("validated", "http", DAY).equals(_frame(0, 2))  # not yet
    with pytest.raises(RuntimeError, match="write after finish"):
        writer.write(_frame(20, 1))
    writer.publish()
    assert lake.read_partition("validated", "http", DAY).equals(_frame(10, 6))
    assert _staged(lake) == []
