"""Ranges as real Dagster backfills: submit an asset backfill of the daily pipeline to the
instance (listed in the UI's Backfills tab; the run queue, its limits and the lake pool apply)
and follow it day by day until the daemon has finished it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import dagster as dg

TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def backfill_targets(definitions: dg.Definitions, job_name: str) -> list[dg.AssetKey]:
    """The materialisable daily-partitioned assets of the job (the observed inputs are not
    backfilled: hermit observes them once before submitting)."""
    graph = definitions.resolve_asset_graph()
    job = definitions.resolve_job_def(job_name)
    return sorted(
        k
        for k in job.asset_layer.executable_asset_keys
        if graph.get(k).is_materializable and graph.get(k).partitions_def is not None
    )


def submit_backfill(
    instance: dg.DagsterInstance,
    definitions: dg.Definitions,
    targets: Iterable[tuple[dg.AssetKey, str]],
    *,
    tags: dict[str, str],
    run_config: dict | None = None,
    title: str | None = None,
) -> str:
    """Add an asset backfill of exactly these (asset, day) pairs; returns its id."""
    # What the UI's "Launch backfill" adds through GraphQL; Dagster has no public Python API
    # for asset backfills yet. The target is given as an explicit subset: from a partition list
    # Dagster would also target the day after the range (categorised reads the day before).
    from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
    from dagster._core.definitions.events import AssetKeyPartitionKey
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    graph = definitions.resolve_asset_graph()
    subset = AssetGraphSubset.from_asset_partition_set(
        {AssetKeyPartitionKey(k, p) for k, p in targets}, graph
    )
    backfill_id = make_new_backfill_id()
    backfill = PartitionBackfill.from_asset_graph_subset(
        backfill_id=backfill_id,
        backfill_timestamp=time.time(),
        tags=tags,
        dynamic_partitions_store=instance,
        asset_graph_subset=subset,
        title=title,
        description=None,
        run_config=run_config,
    )
    instance.add_backfill(backfill)
    return backfill_id


def backfill_pairs(
    instance: dg.DagsterInstance, definitions: dg.Definitions, backfill_id: str
) -> tuple[str, set[tuple[dg.AssetKey, str]], set[tuple[dg.AssetKey, str]]]:
    """The backfill's status, the (asset, day) pairs it materialised, and those it failed
    (failed, or not run because something upstream failed)."""
    backfill = instance.get_backfill(backfill_id)
    if backfill is None:
        raise ValueError(f"no backfill {backfill_id} on this instance")
    data = backfill.get_asset_backfill_data(definitions.resolve_asset_graph())
    return (
        backfill.status.value,
        _pairs(data.materialized_subset),
        _pairs(data.failed_and_downstream_subset),
    )


def _pairs(subset) -> set[tuple[dg.AssetKey, str]]:
    return {
        (key, day)
        for key in subset.asset_keys
        for day in subset.get_partitions_subset(key).get_partition_keys()
    }


def follow_backfill(
    instance: dg.DagsterInstance,
    definitions: dg.Definitions,
    backfill_id: str,
    on_change: Callable[[set, set], None],
    *,
    poll_seconds: float = 1.0,
    timeout_seconds: float | None = None,
) -> tuple[str, set, set]:
    """Poll until the backfill ends; `on_change(materialised, failed)` is called whenever
    either changes. Returns the final status and both sets."""
    deadline = None if timeout_seconds is None else time.time() + timeout_seconds
    last = None
    while True:
        status, done, failed = backfill_pairs(instance, definitions, backfill_id)
        if (done, failed) != last:
            on_change(done, failed)
            last = (done, failed)
        if status in TERMINAL:
            return status, done, failed
        if deadline is not None and time.time() > deadline:
            raise TimeoutError(f"backfill {backfill_id} still {status} after {timeout_seconds} s")
        time.sleep(poll_seconds)


def backfill_runs(instance: dg.DagsterInstance, backfill_id: str) -> list:
    """The runs the daemon launched for the backfill, oldest first."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    return list(reversed(runs))
