"""Environment configuration: where the lake and the raw zone live, and the time rules."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LAKE = str(PROJECT_ROOT / "data_lake")


@dataclass(frozen=True)
class Settings:
    lake: str
    raw: str
    lateness_days: int
    unrotated_days: int = 1  # how far an un-rotated <log>.log may run past its folder's day

    @classmethod
    def from_env(cls) -> Settings:
        lake = os.environ.get("HERMIT_LAKE") or DEFAULT_LAKE
        raw = os.environ.get("HERMIT_RAW") or f"{lake.rstrip('/')}/raw"
        return cls(
            lake=lake,
            raw=raw,
            lateness_days=int(os.environ.get("HERMIT_LATENESS_DAYS", "1")),
            unrotated_days=int(os.environ.get("HERMIT_UNROTATED_DAYS", "1")),
        )
