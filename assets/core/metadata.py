"""Definition metadata every layer asset carries: its column schema (from the polars schema the
code writes with), owner and tags, so the UI and catalogue tools show what a table holds."""

from __future__ import annotations

import dagster as dg
import polars as pl

OWNERS = ["team:hermit"]


def column_schema(schema: dict[str, pl.DataType]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name, _type_name(dtype)) for name, dtype in schema.items()]
    )


def _type_name(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return f"timestamp[{dtype.time_unit}, {dtype.time_zone or 'naive'}]"
    return str(dtype).lower()


def spec_extras(layer: str, schema: dict[str, pl.DataType] | None) -> dict:
    """Keyword arguments for an AssetSpec of `layer` writing frames of `schema`."""
    meta = {"dagster/column_schema": column_schema(schema)} if schema else {}
    return {"owners": OWNERS, "tags": {"layer": layer}, "metadata": meta}
