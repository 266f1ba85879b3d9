"""Monitored networks (networks.yaml): CIDR, label, owner, IANA time zone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
import yaml

from assets.core.addresses import cidr_range
from assets.reference.files import ReferenceDataError

NETWORKS_PATH = Path(__file__).resolve().parent / "networks.yaml"


@dataclass(frozen=True)
class Network:
    cidr: str
    label: str
    owner: str
    timezone: str
    ip_first: int
    ip_last: int
    prefixlen: int


@dataclass(frozen=True)
class Networks:
    """Monitored networks, most specific prefix first (so nested blocks win).

    ``default_timezone`` (the first listed network's zone) dates rows with no monitored
    side (transit).
    """

    networks: tuple[Network, ...]
    default_timezone: str

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [(n.cidr, n.label, n.owner, n.timezone) for n in self.networks],
            schema=["cidr", "label", "owner", "timezone"],
            orient="row",
        )


def load_networks(path: str | Path | None = None) -> Networks:
    """Read networks.yaml (``networks: [{cidr, label, owner, timezone}]``, or a bare list)."""
    path = Path(path or NETWORKS_PATH)
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) if Path(path).exists() else None
    if raw is None:
        raise ReferenceDataError(f"{path}: file not found or empty")
    entries = raw.get("networks") if isinstance(raw, dict) else raw
    if not isinstance(entries, list) or not entries:
        raise ReferenceDataError(f"{path}: expected a non-empty list of networks")
    out = []
    seen: set[str] = set()
    for i, e in enumerate(entries):
        where = f"networks[{i}]"
        if not isinstance(e, dict):
            raise ReferenceDataError(f"{path}: {where}: expected a mapping")
        missing = [k for k in ("cidr", "label", "timezone") if not e.get(k)]
        if missing:
            raise ReferenceDataError(f"{path}: {where}: missing {', '.join(missing)}")
        try:
            first, last, plen, _ = cidr_range(str(e["cidr"]))
        except ValueError as err:
            raise ReferenceDataError(f"{path}: {where}: bad cidr {e['cidr']!r}: {err}") from err
        try:
            ZoneInfo(str(e["timezone"]))
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ReferenceDataError(
                f"{path}: {where}: unknown IANA time zone {e['timezone']!r}"
            ) from err
        if e["cidr"] in seen:
            raise ReferenceDataError(f"{path}: {where}: duplicate cidr {e['cidr']}")
        seen.add(e["cidr"])
        out.append(
            Network(
                str(e["cidr"]),
                str(e["label"]),
                str(e.get("owner") or ""),
                str(e["timezone"]),
                first,
                last,
                plen,
            )
        )
    ordered = tuple(sorted(out, key=lambda n: -n.prefixlen))
    return Networks(ordered, default_timezone=out[0].timezone)
