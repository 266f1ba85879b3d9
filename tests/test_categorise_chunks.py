"""A day categorised in many small chunks gives exactly the sessions, stats, unknown domains
and reporting tables of the day categorised whole, on a simulated day and on the real sensor
archive: chunking is a memory matter only."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from realdata_sources import ARCHIVE, archive_days
from test_categorise_frames import reference

from assets.categorised.assets import read_validated
from assets.categorised.day import categorise_day
from assets.categorised.sessions import INPUT_COLUMNS, categorise
from assets.categorised.unknown import unknown_domains
from assets.lake import Lake
from assets.reporting.tables import build_reporting_tables
from assets.simulate.run import simulate
from assets.validated.inputs import collect_raw_files
from assets.validated.transform import validate_partition

TABLES = ("conn", "dns", "ssl", "http")
SIM_DAY = dt.date(2017, 5, 17)  # planted scanners and a beacon


def _validate_into(lake: Lake, days: list[dt.date]) -> None:
    for day in days:
        for table in TABLES:
            files = collect_raw_files(lake, table, day, 1)
            lake.write_partition(
                "validated", table, day, validate_partition(files, table, day, 1).valid
            )


@pytest.fixture(scope="module")
def simulated_lake(tmp_path_factory) -> Lake:
    lake = Lake(str(tmp_path_factory.mktemp("lake")))
    simulate(lake, start=SIM_DAY - dt.timedelta(days=1), end=SIM_DAY, sessions_per_day=3000, seed=5)
    _validate_into(lake, [SIM_DAY - dt.timedelta(days=1), SIM_DAY])
    return lake


@pytest.fixture(scope="module")
def archive_lake(tmp_path_factory) -> tuple[Lake, list[dt.date]]:
    if not ARCHIVE.is_dir():
        pytest.skip("realdata not present")
    root = tmp_path_factory.mktemp("archive")
    (root / "raw" / "zeek").mkdir(parents=True)
    (root / "raw" / "zeek" / "archive").symlink_to(ARCHIVE)
    lake = Lake(str(root))
    days = archive_days()
    _validate_into(lake, [days[0] - dt.timedelta(days=1), *days])
    return lake, days


def _whole_day(lake: Lake, day: dt.date):
    """The sessions as the whole-day `categorise` gives them, from whole-day frames."""
    conn = lake.read_partition("validated", "conn", day, INPUT_COLUMNS["conn"])
    return categorise(
        conn,
        read_validated(lake, "dns", [day - dt.timedelta(days=1), day]),
        read_validated(lake, "ssl", [day]),
        read_validated(lake, "http", [day]),
        reference=reference(),
    )


def _chunked(lake: Lake, day: dt.date, rows: int):
    chunks: list[pl.DataFrame] = []
    result = categorise_day(lake, day, reference(), chunks.append, rows=rows)
    return result, pl.concat(chunks)


def _assert_identical(lake: Lake, day: dt.date, rows: int, tmp_path) -> None:
    whole = _whole_day(lake, day)
    assert whole.sessions.height > 0
    result, sessions = _chunked(lake, day, rows)
    assert result.chunks > 5  # the tiny chunk size really split the day
    assert result.conn_rows == whole.sessions.height
    assert_frame_equal(sessions, whole.sessions)
    assert result.stats == whole.stats
    assert_frame_equal(result.unknown, unknown_domains(whole.sessions))
    # ... and one chunk of the whole day is the whole day too
    one, one_sessions = _chunked(lake, day, 10**9)
    assert one.chunks == 1
    assert_frame_equal(one_sessions, whole.sessions)

    # the reporting tables of the chunk-written partition are those of the in-memory frame
    out = Lake(str(tmp_path))
    out.write_partition("categorised", "sessions", day, sessions)
    expected = build_reporting_tables(whole.sessions, day=day)
    with out.scan_partition("categorised", "sessions", day) as scanned:
        got = build_reporting_tables(scanned, day=day)
        # beaconing in many buckets of pairs (what a big day gets) finds the same rows
        bucketed = build_reporting_tables(scanned, day=day, buckets=5)
    assert set(got) == set(expected)
    for name in expected:
        assert_frame_equal(got[name], expected[name], check_exact=True), name
        assert_frame_equal(bucketed[name], expected[name], check_exact=True), name
    return expected


def test_a_simulated_day_in_tiny_chunks_is_the_whole_day(simulated_lake, tmp_path):
    tables = _assert_identical(simulated_lake, SIM_DAY, 97, tmp_path)
    kinds = set(tables["suspect_activity"].get_column("kind"))
    assert {"beaconing", "scanning"} <= kinds  # the planted ones: the buckets had work


def test_the_archive_days_in_tiny_chunks_are_the_whole_days(archive_lake, tmp_path):
    lake, days = archive_lake
    for day in days:
        _assert_identical(lake, day, 50, tmp_path / day.isoformat())


def test_a_day_without_validated_conn_is_reported_as_absent(simulated_lake):
    assert categorise_day(simulated_lake, dt.date(2017, 1, 1), reference(), print) is None


def _publish_staged(lake: Lake, day: dt.date) -> bool:
    from test_publishing import _Context

    from assets.categorised.assets import SESSIONS
    from assets.categorised.day import stage_day
    from assets.publishing import LayerStep, Output

    staged = stage_day(lake, day, reference(), rows=400)
    step = LayerStep(_Context(), lake, [SESSIONS], {})
    out = Output(
        SESSIONS,
        "categorised",
        "sessions",
        None,
        "categorised.sessions",
        staged=staged.writer,
        outcome=staged.outcome,
    )
    return step.publish_day(day, [out])


def test_staged_sessions_are_published_as_row_groups_only_when_the_audit_passes(
    simulated_lake, monkeypatch
):
    import pyarrow.parquet as pq

    from assets.categorised import day as categorised_day

    lake = simulated_lake
    assert _publish_staged(lake, SIM_DAY)
    published = lake.read_partition("categorised", "sessions", SIM_DAY)
    assert_frame_equal(published, _whole_day(lake, SIM_DAY).sessions)
    path = f"{lake.partition_dir('categorised', 'sessions', SIM_DAY)}/part-0.parquet"
    assert pq.ParquetFile(path).num_row_groups > 5

    # a day failing its audit publishes nothing: the partition stays as it was, nothing staged
    real = categorised_day.categorise_chunk
    monkeypatch.setattr(
        categorised_day,
        "categorise_chunk",
        lambda *a, **kw: real(*a, **kw).with_columns(proto=pl.lit("sctp")),
    )
    assert not _publish_staged(lake, SIM_DAY)
    assert_frame_equal(lake.read_partition("categorised", "sessions", SIM_DAY), published)
    assert lake.fs.find(lake.path("_staging", "categorised")) == []


@pytest.mark.parametrize("unknown_share", [0.0, 0.5])
def test_the_chunked_audit_of_sessions_is_the_whole_day_verdict(simulated_lake, unknown_share):
    """Row-local checks on each chunk, uniqueness across chunks, the `mostly` share of
    unknown categories over the day: the same verdict and findings as GE on the day."""
    from assets.quality.chunked import ChunkAudit
    from assets.quality.ge_runner import validate_frame

    sessions = _whole_day(simulated_lake, SIM_DAY).sessions
    n = int(sessions.height * unknown_share)
    sessions = sessions.with_columns(
        category=pl.when(pl.int_range(pl.len()) < n).then(pl.lit("unknown")).otherwise("category")
    )
    # a repeated key in the last chunk: uniqueness across chunks
    sessions = pl.concat([sessions, sessions.head(1)])
    audit = ChunkAudit("categorised.sessions", "d", 250, sessions.schema)
    for lo in range(0, sessions.height, 100):
        audit.add(sessions.slice(lo, 100))
    got = audit.outcome(lambda cols: [sessions.select(cols)])
    want = validate_frame(sessions, "categorised.sessions", partition="d")

    def findings(o):
        return sorted((f["expectation"], f["column"] or "", f["severity"]) for f in o.failed)

    assert got.success == want.success is False
    assert findings(got) == findings(want)
    assert ("expect_column_values_to_not_be_in_set", "category", "warning") in findings(got) or (
        unknown_share == 0.0
    )


def test_the_day_answers_are_in_time_then_name_order_however_chunked():
    """DNS answers of chunks meeting at one timestamp are merged in (time, name) order, stably:
    the last of equal answers is the one a connection's backward lookup finds."""
    from assets.categorised.lookups import LookupBuilder

    t0 = dt.datetime(2017, 5, 16, tzinfo=dt.UTC)
    ts = [t0, t0 + dt.timedelta(seconds=1), t0 + dt.timedelta(seconds=1), t0]
    dns = pl.DataFrame(
        {
            "ts": ts + [t0 + dt.timedelta(seconds=2)],
            "id_orig_h": ["10.0.0.1"] * 5,
            "query": ["b.example", "z.example", "a.example", "c.example", "d.example"],
            "answers": [["1.1.1.1"], ["1.1.1.1"], ["1.1.1.1", "2.2.2.2"], ["1.1.1.1"], []],
            "ttls": [[60.0], [60.0], [60.0, 30.0], [60.0], []],
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    whole = LookupBuilder()
    whole.add_dns(dns)
    expected = whole.build().answers
    for size in (1, 2, 3):
        b = LookupBuilder()
        for lo in range(0, dns.height, size):
            b.add_dns(dns.slice(lo, size))
        assert_frame_equal(b.build().answers, expected)
    names = expected.get_column("dns_name").cast(pl.String).to_list()
    assert names == ["b.example", "c.example", "a.example", "a.example", "z.example"]
