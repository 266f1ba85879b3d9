"""Naming rules: Zeek field names -> column names, and log file names -> log (table) names.

Which files are logs (README "Which files are read"): `<log>.log`, `<log>.json` (un-rotated),
`<log>.<stamp>.log|json` with one of Zeek's rotation stamps, each optionally `.gz`:

- `HH:MM:SS-HH:MM:SS` (the archive layout, `conn.00:00:00-01:00:00.log.gz`),
- `HH_MM_SS-HH_MM_SS` (the same, where `:` is not allowed in file names),
- `YYYY-MM-DD-HH-MM-SS` (Zeek's own rotation name, `conn.2024-04-29-15-00-00.log`).

Anything else is skipped with a reason: editor, backup and partial files (`.bak`, `.tmp`,
`.swp`, `.part`, numbered `.1`, `~`, hidden `.name`), other compressions, unknown stamps.
"""

from __future__ import annotations

import re

NODE_NAME_FIELD = "_node_name"

_STAMPS = (
    re.compile(r"^\d{2}:\d{2}:\d{2}-\d{2}:\d{2}:\d{2}$"),
    re.compile(r"^\d{2}_\d{2}_\d{2}-\d{2}_\d{2}_\d{2}$"),
    re.compile(r"^\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}$"),
)
_LOG_SUFFIXES = {"log", "json"}
_SCRATCH = {"bak", "tmp", "temp", "swp", "swo", "swx", "part", "partial", "orig", "old", "save"}
_OTHER_COMPRESSION = {"bz2", "xz", "zst", "lz4", "zip", "z", "7z"}
_LOG_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def column_name(field: str) -> str:
    """`id.orig_h` -> `id_orig_h`, `TTLs` -> `ttls`, `_node_name` -> `node_name`."""
    if field == NODE_NAME_FIELD:
        return "node_name"
    return field.replace(".", "_").lower()


def classify(filename: str) -> tuple[str | None, str | None]:
    """(log, None) for a Zeek log file name, (None, why it is skipped) for any other name."""
    name = filename.rsplit("/", 1)[-1]
    if name.startswith(".") or name.endswith("~"):
        return None, "hidden, editor or backup file"
    parts = name.split(".")
    if len(parts) > 1 and parts[-1].lower() == "gz":
        parts = parts[:-1]
    last = parts[-1].lower() if len(parts) > 1 else ""
    if last in _SCRATCH or last.isdigit():
        return None, f"editor, backup or partial file (.{parts[-1]})"
    if last in _OTHER_COMPRESSION:
        return None, f"compressed as .{parts[-1]}; hermit reads plain and gzip logs"
    if last not in _LOG_SUFFIXES:
        return None, "not a log file name (<log>[.<rotation stamp>].log|json[.gz])"
    stem, stamp = parts[0], parts[1:-1]
    if not _LOG_NAME.match(stem):
        return None, "not a log file name (<log>[.<rotation stamp>].log|json[.gz])"
    if stamp and not (len(stamp) == 1 and any(p.match(stamp[0]) for p in _STAMPS)):
        return None, f"unknown rotation stamp {'.'.join(stamp)!r}"
    return stem, None


def log_name(filename: str) -> str | None:
    """The Zeek log a file holds, from its name (`conn.00:00:00-01:00:00.log.gz` -> `conn`).

    Returns None for names that are not Zeek logs (e.g. `README`, `conn.log.bak`).
    """
    return classify(filename)[0]


def is_rotated(filename: str) -> bool:
    """True for a log whose name has a rotation stamp (it holds one rotation interval)."""
    name = filename.rsplit("/", 1)[-1]
    log, _ = classify(name)
    base = name.removesuffix(".gz")
    return log is not None and base not in (f"{log}.log", f"{log}.json")
