"""Great Expectations itself: imported on first use, one ephemeral context per process, suites
built once, validations run group by group of columns, and its results read back as text."""

from __future__ import annotations

import os
import threading
from typing import Any

from assets.quality.frames import _PandasSource
from assets.quality.suites import (
    _COLUMN_KWARGS,
    GX_SEVERITY,
    columns_read,
    load_suite_json,
    severity_of,
)

_RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 5}
_EXAMPLES = 3
lock = threading.Lock()  # the cached GE context is not thread-safe
_engine: dict[str, Any] = {}


def _gx_engine() -> dict[str, Any]:
    """Import GE and build the ephemeral context once per process."""
    if _engine:
        return _engine
    # No network: never send usage statistics; set before GE reads its configuration.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("hermit_frames").add_dataframe_asset("frame")
    _engine.update(
        gx=gx,
        context=context,
        asset=asset,
        batch_definition=asset.add_batch_definition_whole_dataframe("whole_frame"),
        suites={},
    )
    return _engine


def _ge_suite(cache_key: str, spec: dict | None = None):
    """GE's form of suite `spec` (default: the stored suite named `cache_key`), built once per
    process under `cache_key`."""
    engine = _gx_engine()
    suites = engine["suites"]
    if cache_key not in suites:
        spec = spec if spec is not None else load_suite_json(cache_key)
        suites[cache_key] = engine["gx"].ExpectationSuite(
            name=spec.get("name", cache_key),
            expectations=[
                {
                    "type": e["type"],
                    "kwargs": e.get("kwargs", {}),
                    "meta": e.get("meta") or {},
                    # GE's own severity field, kept in step with ours for GE's tooling.
                    "severity": GX_SEVERITY[severity_of(e)],
                }
                for e in spec["expectations"]
            ],
            meta=spec.get("meta"),
        )
    return suites[cache_key]


# Below this many rows a table is validated as one frame (see `_validate`).
SMALL_TABLE_ROWS = 50_000


def _validate(source: _PandasSource, gx_suite) -> list:
    """GE's per-expectation results for the frame behind `source`.

    Expectations run in groups of the columns they read, each on a frame of just those
    columns, converted for that group and dropped after it: GE's pandas engine filters the
    whole frame (every column) for each column expectation, so on a wide frame most of its
    time went to copying columns it never reads, and one group at a time bounds the memory.
    Table-level expectations (column set, row count) see every column name.
    """
    groups: dict[tuple[str, ...], list] = {}
    for config in gx_suite.expectation_configurations:
        groups.setdefault(tuple(sorted(columns_read(config.kwargs))), []).append(config)
    read = {c for columns in groups for c in columns}
    if source.df.height < SMALL_TABLE_ROWS:
        # GE's fixed cost per validation outweighs any copying on a small table: one group
        plan = [(lambda: source.whole(read), list(gx_suite.expectation_configurations))]
    else:
        plan = [
            (lambda c=columns: source.frame(c) if c else source.table(), configs)
            for columns, configs in groups.items()
        ]
    results = []
    for make_frame, configs in plan:
        frame = make_frame()
        try:
            validator = _unfingerprinted_validator(frame)
        except (ImportError, AttributeError, TypeError, ValueError):
            # GE internals moved (an upgrade): the public path, slower but equivalent.
            return _public_validate(source.whole(read), gx_suite)
        configs = validator.process_expectations_for_validation(configs)
        results += validator.graph_validate(
            configurations=configs, runtime_configuration={"result_format": dict(_RESULT_FORMAT)}
        )
        del frame, validator
    return results


def _unfingerprinted_validator(pdf):
    """A GE validator on `pdf`, built as `DataFrameAsset.get_batch` does minus the batch
    fingerprint (a full hash of the frame, about 60% of a 1M-row conn validation).

    A fresh execution engine per frame, without a metric cache: GE's cache keeps every
    per-row condition Series across calls, which would grow with each partition validated.
    """
    import datetime as dt

    from great_expectations.core.batch import BatchMarkers, LegacyBatchDefinition
    from great_expectations.core.batch_spec import RuntimeDataBatchSpec
    from great_expectations.core.id_dict import IDDict
    from great_expectations.datasource.fluent.interfaces import Batch
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.execution_engine.pandas_batch_data import PandasBatchData
    from great_expectations.validator.validator import Validator

    engine = _gx_engine()
    asset = engine["asset"]
    execution_engine = PandasExecutionEngine(caching=False)
    loaded = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    batch = Batch(
        datasource=asset.datasource,
        data_asset=asset,
        batch_request=engine["batch_definition"].build_batch_request({"dataframe": pdf}),
        data=PandasBatchData(execution_engine, dataframe=pdf),
        batch_markers=BatchMarkers({"ge_load_time": loaded}),
        batch_spec=RuntimeDataBatchSpec(batch_data="PandasDataFrame"),
        batch_definition=LegacyBatchDefinition(
            datasource_name=asset.datasource.name,
            data_connector_name="fluent",
            data_asset_name=asset.name,
            batch_identifiers=IDDict({}),
        ),
    )
    return Validator(
        execution_engine=execution_engine, data_context=engine["context"], batches=[batch]
    )


def _public_validate(pdf, gx_suite) -> list:
    """`Batch.validate`'s route: fingerprints the frame, and the datasource's engine caches
    metrics across calls (fine as a fallback; the fast path above avoids both)."""
    from great_expectations.validator.v1_validator import Validator

    validator = Validator(
        batch_definition=_gx_engine()["batch_definition"],
        batch_parameters={"dataframe": pdf},
        result_format=dict(_RESULT_FORMAT),
    )
    return validator.validate_expectation_suite(gx_suite).results


def _column_of(kwargs) -> str | None:
    for k in _COLUMN_KWARGS:
        if kwargs.get(k) is not None:
            return kwargs[k]
    if kwargs.get("column_list"):
        return ",".join(kwargs["column_list"])
    return None


def _observed(res) -> str:
    """A short human summary of why an expectation failed."""
    error = _exception_message(res.exception_info)
    if error:
        return f"could not evaluate: {error}"
    result = res.result or {}
    mismatched = (result.get("details") or {}).get("mismatched")
    if isinstance(mismatched, dict):
        return "columns " + "; ".join(f"{k} {sorted(v)}" for k, v in mismatched.items() if v)
    if result.get("unexpected_count") is not None:
        text = f"{result['unexpected_count']} unexpected of {result.get('element_count')} rows"
        pct = result.get("unexpected_percent")
        if pct is not None:
            text += f" ({pct:.3g}%"
            mostly = res.expectation_config.kwargs.get("mostly")
            text += f"; at most {100 * (1 - mostly):.3g}% allowed)" if mostly else ")"
        partial = result.get("partial_unexpected_list") or []
        examples = list(dict.fromkeys(repr(_plain(v)) for v in partial))
        if examples:
            text += ", e.g. " + ", ".join(examples[:_EXAMPLES])
        return text
    if "observed_value" in result:
        return f"observed {_plain(result['observed_value'])!r}"
    return "failed"


def _exception_message(info) -> str | None:
    """GE reports an exception either flat or keyed by the failing metric."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" not in info:
        for nested in info.values():
            message = _exception_message(nested)
            if message:
                return message
        return None
    if not info.get("raised_exception") and not info.get("exception_message"):
        return None
    lines = str(info.get("exception_message") or "exception").strip().splitlines()
    return lines[-1] if lines else "exception"


def _plain(value: Any) -> Any:
    """JSON-friendly copy (numpy scalars, sets, timestamps -> plain values)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item"):
        try:
            return value.item()
        except (ValueError, TypeError):
            pass
    return str(value)
