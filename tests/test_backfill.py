"""The backfill engine behind `hermit materialize`, on a two-layer stand-in for the pipeline (the
real layers' range tests live with the assets): runs go through a persistent instance, a bad
day fails alone, and the summary counts what readers will see."""

import datetime as dt
import io

import dagster as dg
import polars as pl
import pytest
from rich.console import Console

from assets.core.partitions import DAILY
from assets.core.resources import LakeResource
from workflows import instance as hermit_instance
from workflows.backfill import materialize_range

BAD_DAY = dt.date(2017, 4, 3)


def _days(context: dg.AssetExecutionContext) -> list[dt.date]:
    window = context.partition_time_window
    n = (window.end - window.start).days
    return [window.start.date() + dt.timedelta(days=i) for i in range(n)]


@dg.asset(
    key=["validated", "conn"],
    group_name="validated",
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def validated_conn(context: dg.AssetExecutionContext, lake: LakeResource) -> None:
    for day in _days(context):
        if day == BAD_DAY and context.run.tags.get("test/bad_day") == "yes":
            raise dg.Failure(description=f"raw folder {day} is unreadable")
        lake.get().write_partition("validated", "conn", day, pl.DataFrame({"n": [1] * day.day}))


@dg.asset(
    key=["categorised", "sessions"],
    deps=[validated_conn],
    group_name="categorised",
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def sessions(context: dg.AssetExecutionContext, lake: LakeResource) -> None:
    store = lake.get()
    for day in _days(context):
        conn = store.read_partition("validated", "conn", day)
        store.write_partition("categorised", "sessions", day, conn.with_columns(m=pl.col("n") * 2))


def _defs(root: str | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=[validated_conn, sessions],
        jobs=[
            dg.define_asset_job(
                "daily_pipeline",
                selection=dg.AssetSelection.groups("validated", "categorised"),
                tags={"test/bad_day": "yes"},
            )
        ],
        resources={"lake": LakeResource(root=root or "")},
    )


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return tmp_path / "dagster_home"


def test_one_run_per_day_and_a_bad_day_fails_alone(tmp_path, home):
    root = str(tmp_path / "lake")
    summary = materialize_range(
        "2017-04-01", "2017-04-05", lake_root=root, definitions=_defs(), progress=False
    )

    assert not summary.ok
    assert [r.partitions for r in summary.runs] == [f"2017-04-0{i}" for i in range(1, 6)]
    [bad] = summary.failed
    assert bad.partitions == "2017-04-03"
    assert any("unreadable" in reason for _, reason in bad.failures)

    layers = {row.layer: row for row in summary.layers}
    assert layers["validated"].partitions == 4
    assert layers["validated"].rows == 1 + 2 + 4 + 5
    assert layers["validated"].days_missing == ["2017-04-03"]
    assert layers["categorised"].days_missing == ["2017-04-03"]
    assert layers["categorised"].rows == 12

    # the runs are real, in the persistent instance under DAGSTER_HOME
    instance = dg.DagsterInstance.get()
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"hermit/backfill": summary.backfill_id}))
    assert sorted(r.tags["dagster/partition"] for r in runs) == [
        f"2017-04-0{i}" for i in range(1, 6)
    ]
    assert instance.get_latest_materialization_event(dg.AssetKey(["categorised", "sessions"]))


def test_a_failed_day_keeps_its_previous_version(tmp_path, home):
    root = str(tmp_path / "lake")
    defs = _defs()
    from assets.lake import Lake

    lake = Lake(root)
    lake.write_partition("validated", "conn", BAD_DAY, pl.DataFrame({"n": [7, 7]}))
    materialize_range(BAD_DAY, BAD_DAY, lake_root=root, definitions=defs, progress=False)
    assert lake.read_partition("validated", "conn", BAD_DAY)["n"].to_list() == [7, 7]


def test_single_run_mode_covers_the_range_in_one_run(tmp_path, home):
    root = str(tmp_path / "lake")
    summary = materialize_range(
        dt.date(2017, 4, 4),
        dt.date(2017, 4, 6),
        lake_root=root,
        per_day=False,
        definitions=_defs(),
        progress=False,
    )
    assert summary.ok
    assert [r.partitions for r in summary.runs] == ["2017-04-04...2017-04-06"]
    layers = {row.layer: row for row in summary.layers}
    assert layers["categorised"].partitions == 3
    assert layers["categorised"].rows == 4 + 5 + 6


def test_selection_limits_the_layers(tmp_path, home):
    summary = materialize_range(
        "2017-04-04",
        "2017-04-04",
        lake_root=str(tmp_path / "lake"),
        selection=["validated/conn"],
        definitions=_defs(),
        progress=False,
    )
    assert summary.ok
    assert [row.layer for row in summary.layers] == ["validated"]


def test_progress_prints_the_layer_summary_and_failures(tmp_path, home):
    out = io.StringIO()
    materialize_range(
        "2017-04-02",
        "2017-04-03",
        definitions=_defs(str(tmp_path / "lake")),  # the lake configured in the definitions
        console=Console(file=out, width=160, force_terminal=False),
    )
    text = out.getvalue()
    assert "validated" in text and "categorised" in text
    assert "failed runs" in text and "unreadable" in text
    assert (tmp_path / "lake" / "validated" / "conn" / "date=2017-04-02").is_dir()


def test_without_dagster_home_the_project_instance_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setattr(hermit_instance, "DEFAULT_HOME", tmp_path / ".dagster_home")
    summary = materialize_range(
        "2017-04-04",
        "2017-04-04",
        lake_root=str(tmp_path / "lake"),
        definitions=_defs(),
        progress=False,
    )
    assert summary.ok
    assert (tmp_path / ".dagster_home" / "dagster.yaml").exists()
    again = hermit_instance.get_instance()
    assert again.get_run_by_id(summary.runs[0].run_id) is not None


@pytest.mark.parametrize(
    ("start", "end"), [("2017-04-05", "2017-04-04"), ("2017-03-30", "2017-04-02")]
)
def test_bad_ranges_are_refused(start, end, tmp_path, home):
    with pytest.raises(Exception, match=r"before|outside|2017"):
        materialize_range(start, end, definitions=_defs(str(tmp_path)), progress=False)
