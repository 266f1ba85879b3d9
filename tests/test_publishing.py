"""Write-audit-publish (assets/publishing.py): days are audited in batches with exact per-day
outcomes, only audited days reach the lake, and a bad day in a range run fails alone."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest
from test_quality_suites import conn_frame
from zeek_factory import CONN_FIELDS, conn_record, epoch, tsv_block

from assets.lake import Lake
from assets.publishing import LayerStep, Output
from assets.quality import ge_runner

DAYS = [dt.date(2017, 4, 1) + dt.timedelta(days=i) for i in range(4)]
CONN = dg.AssetKey(["validated", "conn"])
QUARANTINE = dg.AssetKey(["quarantine", "conn"])


class _Log:
    def __init__(self):
        self.errors: list[str] = []

    def error(self, message: str) -> None:
        self.errors.append(message)

    def info(self, message: str) -> None:
        pass

    warning = debug = info


class _Context:
    """The part of Dagster's execution context LayerStep uses."""

    def __init__(self):
        self.log = _Log()
        self.events: list = []
        self.day_metadata: dict = {}
        self.assets_def = self

    def log_event(self, event) -> None:
        self.events.append(event)

    def add_asset_metadata(self, metadata, asset_key, partition_key) -> None:
        self.day_metadata[(asset_key, partition_key)] = metadata

    def get_output_name_for_asset_check_key(self, key) -> str:
        return f"{key.asset_key.to_python_identifier()}_{key.name}"


def _evaluations(events) -> list[dg.AssetCheckEvaluation]:
    return [e for e in events if isinstance(e, dg.AssetCheckEvaluation)]


def _step(tmp_path, **kw) -> tuple[LayerStep, Lake, _Context]:
    lake, ctx = Lake(str(tmp_path / "lake")), _Context()
    step = LayerStep(ctx, lake, [CONN], {CONN: ("great_expectations_suite",)}, **kw)
    return step, lake, ctx


def _outputs(frame: pl.DataFrame) -> list[Output]:
    return [Output(CONN, "validated", "conn", frame, "validated.conn", {"valid": frame.height})]


def _bad(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.lit("sctp").alias("proto"))


def _written(lake: Lake) -> list[dt.date]:
    return [d for d in DAYS if lake.has_partition("validated", "conn", d)]


@pytest.fixture
def ge_calls(monkeypatch):
    calls = []
    real = ge_runner._validate
    monkeypatch.setattr(ge_runner, "_validate", lambda pdf, s: calls.append(s.name) or real(pdf, s))
    return calls


def test_held_days_are_written_only_once_their_batch_passed(tmp_path, ge_calls):
    step, lake, ctx = _step(tmp_path)
    for i, day in enumerate(DAYS):
        step.add_day(day, _outputs(conn_frame(200 + i, seed=i)))
    assert _written(lake) == []  # nothing unaudited reaches the lake
    step.flush()
    assert _written(lake) == DAYS
    assert len(ge_calls) == 2  # four days: one validation of their rows, one of their counts
    events = list(step.results())
    (result,) = [e for e in events if isinstance(e, dg.MaterializeResult)]
    assert result.asset_key == CONN
    # each day's materialisation carries its own rows, not the range's
    for i, day in enumerate(DAYS):
        meta = ctx.day_metadata[(CONN, day.isoformat())]
        assert meta["dagster/row_count"] == meta["valid"] == 200 + i
    verdicts = _evaluations(events)
    assert [(v.partition, v.passed) for v in verdicts] == [(d.isoformat(), True) for d in DAYS]


def test_a_bad_day_in_a_batch_fails_alone_and_is_named(tmp_path):
    step, lake, ctx = _step(tmp_path)
    for day in DAYS:
        frame = conn_frame()
        step.add_day(day, _outputs(_bad(frame) if day == DAYS[2] else frame))
    with pytest.raises(dg.Failure) as failure:
        list(step.results())
    assert _written(lake) == [DAYS[0], DAYS[1], DAYS[3]]
    assert step.failed_days == [DAYS[2].isoformat()]
    assert failure.value.metadata["failed_partitions"].value == [DAYS[2].isoformat()]
    (error,) = ctx.log.errors
    assert DAYS[2].isoformat() in error and "proto" in error
    assert "expect_column_values_to_be_in_set" in error
    # the good days are still recorded as materialised, one event per day
    assert [e.partition for e in ctx.events] == [d.isoformat() for d in DAYS if d != DAYS[2]]


def test_failed_check_names_the_day_expectation_and_column(tmp_path):
    step, _, _ = _step(tmp_path)
    step.add_day(DAYS[0], _outputs(conn_frame()))
    step.add_day(DAYS[1], _outputs(_bad(conn_frame())))
    events = []
    with pytest.raises(dg.Failure):
        for event in step.results():
            events.append(event)
    good, bad = _evaluations(events)
    assert (good.partition, good.passed) == (DAYS[0].isoformat(), True)
    assert (bad.partition, bad.passed) == (DAYS[1].isoformat(), False)
    failures = bad.metadata["failures"].value
    assert f"partition {DAYS[1]}" in failures and "proto" in failures


def test_a_day_with_companions_is_published_whole_or_not_at_all(tmp_path):
    lake, ctx = Lake(str(tmp_path / "lake")), _Context()
    step = LayerStep(ctx, lake, [CONN, QUARANTINE], {})
    from assets.validated.schemas import QUARANTINE_SCHEMA

    empty = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    for day in DAYS[:2]:
        frame = _bad(conn_frame()) if day == DAYS[1] else conn_frame()
        quarantine = Output(QUARANTINE, "quarantine", "conn", empty, "quarantine.records")
        step.add_day(day, [*_outputs(frame), quarantine])
    step.flush()
    assert lake.has_partition("quarantine", "conn", DAYS[0])
    assert not lake.has_partition("quarantine", "conn", DAYS[1])  # its table failed


def test_the_row_budget_bounds_the_days_held(tmp_path, ge_calls):
    step, lake, _ = _step(tmp_path, batch_rows=700)
    step.add_day(DAYS[0], _outputs(conn_frame(300)))
    step.add_day(DAYS[1], _outputs(conn_frame(300)))
    assert _written(lake) == []
    step.add_day(DAYS[2], _outputs(conn_frame(300)))  # 900 > 700: the first two go first
    assert _written(lake) == DAYS[:2]
    step.add_day(DAYS[3], _outputs(conn_frame(1000)))  # a day over the budget is a batch alone
    assert _written(lake) == DAYS
    step.flush()
    assert len(ge_calls) == 2 + 1 + 1  # days 1-2 batched (rows + counts), 3 and 4 alone


def test_publish_day_audits_at_once_and_says_whether_it_published(tmp_path):
    step, lake, _ = _step(tmp_path)
    assert step.publish_day(DAYS[0], _outputs(conn_frame()))
    assert not step.publish_day(DAYS[1], _outputs(_bad(conn_frame())))
    assert _written(lake) == [DAYS[0]]


def test_an_error_in_the_day_loop_still_publishes_and_records_the_audited_days(tmp_path):
    step, lake, ctx = _step(tmp_path)
    with pytest.raises(RuntimeError), step:
        step.add_day(DAYS[0], _outputs(conn_frame()))
        step.add_day(DAYS[1], _outputs(conn_frame()))
        raise RuntimeError("upstream partition missing")
    assert _written(lake) == DAYS[:2]
    assert [e.partition for e in ctx.events] == [d.isoformat() for d in DAYS[:2]]


# ---- a range run through Dagster -------------------------------------------------------------
START = dt.date(2017, 5, 16)
RANGE = [START + dt.timedelta(days=i) for i in range(3)]
BAD_DAY = RANGE[1]


@pytest.fixture(scope="module")
def range_with_a_bad_day(tmp_path_factory):
    """Three simulated days in one run; the middle day's raw conn log holds an SCTP record,
    which validation keeps (a well-formed record) but the conn suite does not allow."""
    from pipeline_run import run_days

    from assets.simulate.run import simulate

    root = tmp_path_factory.mktemp("lake")
    lake = Lake(str(root))
    simulate(lake, start=RANGE[0], end=RANGE[-1], sessions_per_day=120, seed=11)
    sensor = lake.raw_sensors()[0]
    folder = root / "raw" / "zeek" / sensor / BAD_DAY.isoformat()
    record = conn_record(epoch(BAD_DAY, 12), "CSCTP00000000001", proto="sctp")
    (folder / "conn.12_00_00-13_00_00.log").write_text(tsv_block(CONN_FIELDS, [record]))
    result = run_days(str(root), RANGE[0], RANGE[-1], raise_on_error=False)
    return lake, result


def test_range_run_publishes_the_good_days_and_not_the_bad_one(range_with_a_bad_day):
    lake, result = range_with_a_bad_day
    assert not result.success
    for day in RANGE:
        published = day != BAD_DAY
        assert lake.has_partition("validated", "conn", day) == published, day
        assert lake.has_partition("quarantine", "conn", day) == published, day
        assert lake.has_partition("validated", "dns", day), day  # another table: not blocked
    good = lake.read_partition("validated", "conn", RANGE[0])
    assert "sctp" not in good["proto"].to_list()


def test_range_run_records_the_good_days_and_names_the_bad_one(range_with_a_bad_day):
    _, result = range_with_a_bad_day
    materialised = {
        e.event_specific_data.materialization.partition
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.event_specific_data.materialization.asset_key == CONN
    }
    assert materialised == {RANGE[0].isoformat(), RANGE[2].isoformat()}
    checks = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.asset_key == CONN
    ]
    suite = {c.partition: c for c in checks if c.check_name == "great_expectations_suite"}
    assert {day: c.passed for day, c in suite.items()} == {
        d.isoformat(): d != BAD_DAY for d in RANGE
    }
    meta = {k: v.value for k, v in suite[BAD_DAY.isoformat()].metadata.items()}
    assert f"partition {BAD_DAY}" in meta["failures"]
    assert "expect_column_values_to_be_in_set column proto" in meta["failures"]
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert any(BAD_DAY.isoformat() in str(e.event_specific_data.error) for e in failures)
