"""The raw zone as input: its root must be there, and each dated folder is listed in full.

Every entry of a `<kind>/<sensor>/<YYYY-MM-DD>/` folder is either a file to read or a skipped
entry with its reason (a directory, a symlink leading out of the zone, a name that is not a
log): nothing is passed over without a word.

Symlinks (HERMIT_RAW_LINKS): `inside` (default) follows a link below a sensor folder only
when it resolves inside the raw root or inside that sensor folder's own location (a sensor
folder may itself be a link: that is how a sensor's logs are mounted into the zone); `any`
follows every link. Object stores have no links.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
from dataclasses import dataclass, field

from assets.lake import Lake, with_retries

LINK_POLICIES = ("inside", "any")


class RawZoneMissing(RuntimeError):
    """The raw root (or its `<kind>/` folder) does not exist or cannot be listed."""


class RawInputMissing(RuntimeError):
    """A partition's raw input vanished: re-publishing it would replace data with less."""


@dataclass
class Listing:
    files: list[str] = field(default_factory=list)  # paths to read, in name order
    skipped: dict[str, str] = field(default_factory=dict)  # path relative to raw root -> why


def link_policy() -> str:
    policy = os.environ.get("HERMIT_RAW_LINKS") or "inside"
    if policy not in LINK_POLICIES:
        raise ValueError(f"HERMIT_RAW_LINKS={policy!r}; expected one of {LINK_POLICIES}")
    return policy


def check_raw_root(lake: Lake, kind: str = "zeek") -> None:
    """Raise RawZoneMissing unless `<raw>/<kind>/` exists and can be listed.

    An unmounted raw volume, a wrong HERMIT_RAW, a bucket or prefix that is gone: each would
    otherwise read as days without logs, and replace published days with empty ones.
    """
    base = lake.raw_path(kind)
    lake.raw_fs.invalidate_cache(lake.raw_path())
    try:
        is_dir = with_retries(lambda: lake.raw_fs.isdir(base))
        if is_dir:
            with_retries(lambda: lake.raw_fs.ls(base, detail=False))
    except (OSError, ValueError) as e:  # no bucket, no permission, an unreachable store
        raise RawZoneMissing(f"raw zone {lake.raw_root}/{kind} cannot be listed: {e}") from e
    if not is_dir:
        raise RawZoneMissing(
            f"raw zone {lake.raw_root}/{kind} does not exist (HERMIT_RAW={lake.raw_root}): "
            "is the raw volume mounted, the bucket and prefix right? Nothing was published."
        )


def list_folder(lake: Lake, sensor: str, day: dt.date, kind: str = "zeek") -> Listing:
    """Every entry of `<raw>/<kind>/<sensor>/<day>/`: files to read, and skipped entries."""
    folder = lake.raw_path(kind, sensor, day.isoformat())
    out = Listing()
    if not lake.is_raw_local():
        for e in lake.raw_entries(folder):
            if e["type"] == "directory":
                out.skipped[lake.raw_relpath(e["name"])] = "a directory, not a file"
            else:
                out.files.append(e["name"])
        out.files.sort()
        return out
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return out
    allowed = None if link_policy() == "any" else _link_roots(lake, kind, sensor)
    for e in entries:
        path = posixpath.join(folder, e.name)
        why = _skip_reason(e, path, allowed)
        if why is None:
            out.files.append(path)
        else:
            out.skipped[lake.raw_relpath(path)] = why
    return out


def _link_roots(lake: Lake, kind: str, sensor: str) -> tuple[str, ...]:
    return tuple(os.path.realpath(p) for p in (lake.raw_path(), lake.raw_path(kind, sensor)))


def _skip_reason(entry: os.DirEntry, path: str, allowed: tuple[str, ...] | None) -> str | None:
    if entry.is_symlink() and allowed is not None:
        target = os.path.realpath(path)
        if not any(target == root or target.startswith(root + os.sep) for root in allowed):
            return f"symlink to {target}, outside the raw zone (HERMIT_RAW_LINKS=any follows it)"
    try:
        if entry.is_dir():
            return "a directory, not a file"
    except OSError:
        pass  # a link loop: read as a file, so it is quarantined as unreadable, by name
    return None
