"""The suites as stored: GE 1.x suite JSON in `expectations/`, read without importing GE, and
what an expectation reads and how severe it is."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from assets.config import PROJECT_ROOT

SUITES_DIR = PROJECT_ROOT / "expectations"

# kwargs that name the columns an expectation reads; everything else is a parameter.
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_COLUMN_LIST_KWARGS = ("column_list",)
GX_SEVERITY = {"error": "critical", "warning": "warning"}  # ours -> GE's severity names


def list_suites() -> list[str]:
    """Names of every suite in `expectations/` (`<zone>.<table>`), sorted."""
    return sorted(p.name.removesuffix(".json") for p in SUITES_DIR.glob("*.json"))


def suite_path(suite_name: str) -> Path:
    return SUITES_DIR / f"{suite_name}.json"


@functools.cache
def load_suite_json(suite_name: str) -> dict:
    """The suite's JSON as a dict (no GE import); raises FileNotFoundError for unknown suites."""
    path = suite_path(suite_name)
    if not path.is_file():
        raise FileNotFoundError(f"no Great Expectations suite {suite_name!r} at {path}")
    return json.loads(path.read_text())


def severity_of(expectation: dict) -> str:
    """`error` or `warning` for one expectation entry of a suite (meta wins over GE's field)."""
    raw = (expectation.get("meta") or {}).get("severity") or expectation.get("severity")
    raw = (raw or "error").lower()
    if raw in ("error", "critical"):
        return "error"
    if raw in ("warning", "warn", "info"):
        return "warning"
    raise ValueError(f"unknown severity {raw!r} in {expectation.get('type')}")


def referenced_columns(suite: dict) -> set[str]:
    """Columns whose values the suite's expectations read."""
    expectations = suite.get("expectations", [])
    return {c for exp in expectations for c in columns_read(exp.get("kwargs", {}))}


def columns_read(kwargs) -> set[str]:
    cols = {kwargs[k] for k in _COLUMN_KWARGS if kwargs.get(k) is not None}
    for k in _COLUMN_LIST_KWARGS:
        cols.update(kwargs.get(k) or [])
    return cols
