"""Environment configuration: where the lake and the raw zone live, the time rules, and the
memory budget the chunk sizes follow (assets/memory.py)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LAKE = str(PROJECT_ROOT / "data_lake")
MEMORY_BUDGET_ENV = "HERMIT_MEMORY_BUDGET"
# local directory for a step's spill files (default: the system temporary directory)
SPILL_DIR_ENV = "HERMIT_SPILL_DIR"
# a 4 GiB worker (a small cloud instance, a Kubernetes pod's usual limit) less room for the
# interpreter, Dagster and the page cache
DEFAULT_MEMORY_BUDGET = "3GiB"
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_UNITS |= {"ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def parse_size(text: str) -> int:
    """Bytes of a size such as `4GiB`, `512MiB`, `1.5G`, `2000000000` (B optional)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"{text!r} is not a size: write e.g. 4GiB, 512MiB or a number of bytes")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


def memory_budget_from_env() -> int:
    text = os.environ.get(MEMORY_BUDGET_ENV) or DEFAULT_MEMORY_BUDGET
    try:
        return parse_size(text)
    except ValueError as e:
        raise ValueError(f"{MEMORY_BUDGET_ENV}: {e}") from None


@dataclass(frozen=True)
class Settings:
    lake: str
    raw: str
    lateness_days: int
    unrotated_days: int = 1  # how far an un-rotated <log>.log may run past its folder's day
    # bytes one step may use (HERMIT_MEMORY_BUDGET); chunk sizes follow it
    memory_budget: int = field(default_factory=memory_budget_from_env)

    @classmethod
    def from_env(cls) -> Settings:
        lake = os.environ.get("HERMIT_LAKE") or DEFAULT_LAKE
        raw = os.environ.get("HERMIT_RAW") or f"{lake.rstrip('/')}/raw"
        return cls(
            lake=lake,
            raw=raw,
            lateness_days=int(os.environ.get("HERMIT_LATENESS_DAYS", "1")),
            unrotated_days=int(os.environ.get("HERMIT_UNROTATED_DAYS", "1")),
            memory_budget=memory_budget_from_env(),
        )
