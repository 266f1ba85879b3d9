"""The Dagster instance: the deploy/ configurations parse and name real things, and a
partitioned materialisation runs through an instance on a real PostgreSQL server."""

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from assets.core.partitions import DAILY
from assets.core.resources import LakeResource
from workflows.backfill import materialize_range
from workflows.instance import executor_from_env

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


@dg.asset(key=["validated", "conn"], group_name="validated", partitions_def=DAILY)
def validated_conn(context: dg.AssetExecutionContext, lake: LakeResource) -> None:
    day = dt.date.fromisoformat(context.partition_key)
    lake.get().write_partition("validated", "conn", day, pl.DataFrame({"n": [day.day]}))


def _home(tmp_path: Path, config: str) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(DEPLOY / config, home / "dagster.yaml")
    return home


@pytest.mark.postgres
def test_partitioned_materialisation_on_postgres(postgres, tmp_path, monkeypatch):
    import psycopg2

    for name, value in postgres.env().items():
        monkeypatch.setenv(name, value)
    home = _home(tmp_path, "dagster.postgres.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.get()
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"

        defs = dg.Definitions(
            assets=[validated_conn],
            jobs=[dg.define_asset_job("daily_pipeline", selection=[validated_conn])],
            resources={"lake": LakeResource(root=str(tmp_path / "lake"))},
        )
        summary = materialize_range(
            "2017-04-02", "2017-04-04", definitions=defs, instance=instance, progress=False
        )
        assert summary.ok
        assert instance.get_materialized_partitions(dg.AssetKey(["validated", "conn"])) == {
            "2017-04-02",
            "2017-04-03",
            "2017-04-04",
        }
    finally:
        instance.dispose()

    # the runs are in PostgreSQL itself, where another machine's webserver would read them
    conn = psycopg2.connect(postgres.url)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'")
        assert cur.fetchone()[0] == 3
    conn.close()


@pytest.mark.parametrize("config", ["dagster.yaml", "dagster.postgres.yaml"])
def test_instance_configs_are_valid(config, tmp_path):
    config_dict, _ = dagster_instance_config(str(_home(tmp_path, config)))
    limits = config_dict["concurrency"]["runs"]["tag_concurrency_limits"]
    per_partition = {"applyLimitPerUniqueValue": True}
    assert {"key": "dagster/partition", "value": per_partition, "limit": 1} in limits


def test_default_config_gives_a_sqlite_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(_home(tmp_path, "dagster.yaml")))
    instance = dg.DagsterInstance.get()
    try:
        assert "Sqlite" in type(instance.run_storage).__name__
    finally:
        instance.dispose()


# The executor examples are validated against dagster-celery and dagster-k8s themselves in
# tests/test_executor_configs.py.


def test_helm_values_use_the_k8s_run_launcher_and_hermit_module():
    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "workflows.definitions"]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env["HERMIT_LAKE"].startswith("s3://") and env["HERMIT_EXECUTOR"] == "k8s"


def test_executor_from_env(monkeypatch):
    monkeypatch.delenv("HERMIT_EXECUTOR", raising=False)
    assert executor_from_env() is dg.in_process_executor  # GE imports once per run
    monkeypatch.setenv("HERMIT_EXECUTOR", "multiprocess")
    assert executor_from_env() is dg.multiprocess_executor
    monkeypatch.setenv("HERMIT_EXECUTOR", "spark")
    with pytest.raises(ValueError, match="expected one of"):
        executor_from_env()
    monkeypatch.setenv("HERMIT_EXECUTOR", "celery")
    try:
        import dagster_celery  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="dagster-celery"):
            executor_from_env()
    else:
        assert executor_from_env().name == "celery"
