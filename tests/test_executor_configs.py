"""The scale-out examples against the real executors: deploy/executors/*.yaml validated by
Dagster's public `validate_run_config` on hermit's job with the executor HERMIT_EXECUTOR picks
(dagster-celery and dagster-k8s 0.29.27 define the schemas), and the names deploy/k8s/values.yaml
relies on. No package ships the Helm chart's values.schema.json (dagster-k8s has none, and the
chart's `dagster-helm` schema package is not published), so the chart values themselves are not
schema-checked here."""

import importlib
import re

import dagster as dg
import pytest
import yaml

from workflows.definitions import PROJECT_ROOT, build_definitions
from workflows.instance import EXECUTORS

DEPLOY = PROJECT_ROOT / "deploy"


def _job_on(executor: str, monkeypatch) -> dg.JobDefinition:
    monkeypatch.setenv("HERMIT_EXECUTOR", executor)
    return build_definitions().resolve_job_def("daily_pipeline")


def _example(name: str) -> dict:
    return yaml.safe_load((DEPLOY / "executors" / f"{name}.yaml").read_text())


@pytest.fixture
def celery_env(monkeypatch):
    # the celery example reads its broker and backend from the environment
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://127.0.0.1:6379/1")


@pytest.mark.parametrize("name", ["celery", "k8s"])
def test_executor_examples_are_accepted_by_the_executors_they_name(name, monkeypatch, celery_env):
    job = _job_on(name, monkeypatch)
    module, attribute = EXECUTORS[name]
    assert job.executor_def.name == getattr(importlib.import_module(module), attribute).name
    resolved = dg.validate_run_config(job, _example(name))["execution"][job.executor_def.name]
    assert set(resolved) >= set(_example(name)["execution"]["config"])


def test_a_run_without_run_config_reaches_the_brokers_the_environment_names(monkeypatch):
    # what `hermit materialize`'s backfills and the nightly schedule submit: no execution config
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "redis://10.0.0.5:6379/0")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://10.0.0.5:6379/1")
    job = _job_on("celery", monkeypatch)
    resolved = dg.validate_run_config(job, {})["execution"]["celery"]
    example = dg.validate_run_config(job, _example("celery"))["execution"]["celery"]
    assert resolved["broker"] == "redis://10.0.0.5:6379/0"
    assert resolved["backend"] == "redis://10.0.0.5:6379/1"
    assert resolved == example  # the same settings as `dg launch -c deploy/executors/celery.yaml`
    override = {"execution": {"config": {"broker": "redis://other:6379/0"}}}
    assert dg.validate_run_config(job, override)["execution"]["celery"]["broker"] == (
        "redis://other:6379/0"
    )


def test_the_k8s_example_resolves_to_what_it_says(monkeypatch):
    config = dg.validate_run_config(_job_on("k8s", monkeypatch), _example("k8s"))
    executor = config["execution"]["k8s"]
    assert executor["job_namespace"] == "hermit" and executor["max_concurrent"] == 4
    assert "HERMIT_LAKE=s3://hermit-lake/prod" in executor["env_vars"]
    resources = executor["step_k8s_config"]["container_config"]["resources"]
    assert resources["requests"]["memory"] == "4Gi"


@pytest.mark.parametrize(
    "name, key",
    [("k8s", "max_concurent"), ("celery", "brokr")],
)
def test_a_misspelt_executor_key_is_refused(name, key, monkeypatch, celery_env):
    run_config = _example(name)
    run_config["execution"]["config"][key] = 1
    with pytest.raises(dg.DagsterInvalidConfigError, match=key):
        dg.validate_run_config(_job_on(name, monkeypatch), run_config)


def test_helm_values_name_what_dagster_k8s_provides(monkeypatch):
    import dagster_k8s

    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    launcher = values["runLauncher"]
    accepted = getattr(dagster_k8s, launcher["type"]).config_type()
    # the chart writes its camelCase keys into the launcher's snake_case config
    for key in launcher["config"]["k8sRunLauncher"]:
        assert re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower() in accepted, key
    [deployment] = values["dagster-user-deployments"]["deployments"]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert _job_on(env["HERMIT_EXECUTOR"], monkeypatch).executor_def is dagster_k8s.k8s_job_executor
    module = deployment["dagsterApiGrpcArgs"][
        deployment["dagsterApiGrpcArgs"].index("--module-name") + 1
    ]
    assert isinstance(importlib.import_module(module).defs(), dg.Definitions)
