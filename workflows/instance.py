"""The Dagster instance hermit's own commands run through (so their runs show in the UI)."""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

import dagster as dg

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOME = PROJECT_ROOT / ".dagster_home"
DEFAULT_CONFIG = PROJECT_ROOT / "deploy" / "dagster.yaml"


def instance_home() -> Path:
    """DAGSTER_HOME when set, else `<project>/.dagster_home`."""
    return Path(os.environ["DAGSTER_HOME"]) if os.environ.get("DAGSTER_HOME") else DEFAULT_HOME


def get_instance() -> dg.DagsterInstance:
    """The persistent instance: DagsterInstance.get() under DAGSTER_HOME, else one under
    `<project>/.dagster_home` (SQLite, seeded with deploy/dagster.yaml). Point `dagster dev`
    at the same folder (DAGSTER_HOME=.dagster_home) to see the command's runs in the UI."""
    home = instance_home()
    if os.environ.get("DAGSTER_HOME") and (home / "dagster.yaml").exists():
        return dg.DagsterInstance.get()
    # a fresh home (ours, or a DAGSTER_HOME that does not exist yet) gets hermit's defaults
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() and DEFAULT_CONFIG.exists():
        shutil.copyfile(DEFAULT_CONFIG, config)
    return dg.DagsterInstance.from_config(str(home))


# Executors a deployment can pick with HERMIT_EXECUTOR: name -> (package module, attribute).
EXECUTORS = {
    "in_process": ("dagster", "in_process_executor"),
    "multiprocess": ("dagster", "multiprocess_executor"),
    "celery": ("dagster_celery", "celery_executor"),
    "k8s": ("dagster_k8s", "k8s_job_executor"),
    "celery_k8s": ("dagster_celery_k8s", "celery_k8s_job_executor"),
}


DEFAULT_EXECUTOR = "in_process"


def executor_from_env() -> dg.ExecutorDefinition | None:
    """The executor named by HERMIT_EXECUTOR, so the same definitions run on one machine, a
    Celery cluster or Kubernetes (run config examples in deploy/executors/).

    The default is in-process: a run's steps then share one Python process, so the libraries
    every step needs (Great Expectations costs seconds to import) load once per run rather than
    once per step; on a small machine that beats running steps side by side. Choose
    `multiprocess` when days are large and cores are many."""
    name = os.environ.get("HERMIT_EXECUTOR", "").strip() or DEFAULT_EXECUTOR
    if name not in EXECUTORS:
        raise ValueError(f"HERMIT_EXECUTOR={name!r}: expected one of {', '.join(EXECUTORS)}")
    module, attribute = EXECUTORS[name]
    try:
        package = importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"HERMIT_EXECUTOR={name} needs the {module.replace('_', '-')} package, at the version "
            f"paired with dagster {dg.__version__} (pip install {module.replace('_', '-')})"
        ) from exc
    executor = getattr(package, attribute)
    return _celery_from_environment(executor) if name == "celery" else executor


# What deploy/executors/celery.yaml says, for runs that carry no execution config: the asset
# backfills `hermit materialize` submits, the nightly schedule's runs and the sensors'.
CELERY_DEFAULTS: dict = {
    "include": ["workflows.definitions"],
    # steps are long: a worker takes one at a time, and a step a worker died in is redelivered
    "config_source": {"worker_prefetch_multiplier": 1, "task_acks_late": True},
}


def _celery_from_environment(executor: dg.ExecutorDefinition) -> dg.ExecutorDefinition:
    """The celery executor with its broker and backend from DAGSTER_CELERY_BROKER_URL and
    DAGSTER_CELERY_BACKEND_URL, so a run submitted without run config reaches the same workers
    as `dg launch -c deploy/executors/celery.yaml`; an execution section in a run's config still
    overrides any of these keys."""

    def from_environment(config: dict) -> dict:
        defaults = dict(CELERY_DEFAULTS)
        for key, variable in (
            ("broker", "DAGSTER_CELERY_BROKER_URL"),
            ("backend", "DAGSTER_CELERY_BACKEND_URL"),
        ):
            if os.environ.get(variable):
                defaults[key] = os.environ[variable]
        return {**defaults, **config}

    # the same keys with no defaults of their own, so a key the run config leaves out is ours
    fields = executor.config_schema.config_type.fields
    schema = dg.Shape(
        {k: dg.Field(f.config_type, is_required=False, description=f.description)
         for k, f in fields.items()}
    )  # fmt: skip
    return executor.configured(from_environment, config_schema=schema, name=executor.name)
