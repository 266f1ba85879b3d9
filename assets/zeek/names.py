"""Naming rules: Zeek field names -> column names, and log file names -> log (table) names."""

from __future__ import annotations

import re

NODE_NAME_FIELD = "_node_name"

# "<log>.<HH:MM:SS>-<HH:MM:SS>.log[.gz]" (Zeek's archive) or "<log>.log|json[.gz]" (un-rotated)
_ROTATION = re.compile(r"^\d{2}:\d{2}:\d{2}-\d{2}:\d{2}:\d{2}$")
_LOG_SUFFIXES = {"log", "json"}


def column_name(field: str) -> str:
    """`id.orig_h` -> `id_orig_h`, `TTLs` -> `ttls`, `_node_name` -> `node_name`."""
    if field == NODE_NAME_FIELD:
        return "node_name"
    return field.replace(".", "_").lower()


def log_name(filename: str) -> str | None:
    """The Zeek log a file holds, from its name (`conn.00:00:00-01:00:00.log.gz` -> `conn`).

    Returns None for names that are not Zeek logs (e.g. `README`, `x.csv`).
    """
    name, *parts = filename.rsplit("/", 1)[-1].split(".")
    if not name or not parts:
        return None
    if parts[0] in _LOG_SUFFIXES or _ROTATION.match(parts[0]):
        return name
    return None
