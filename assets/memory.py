"""The memory budget (HERMIT_MEMORY_BUDGET) and the chunk sizes every layer derives from it.

A streaming step holds a bounded number of chunks at once: the rows of one chunk are sized so
that `share` of the budget holds them at `bytes_per_row` (the in-memory width of the step's
widest frame, measured). Between chunks a step calls `check_budget`, which fails with a clear
error naming the budget instead of letting the kernel kill the process later.
"""

from __future__ import annotations

import os
import resource

from assets.config import MEMORY_BUDGET_ENV, memory_budget_from_env

__all__ = [
    "MemoryBudgetExceeded",
    "budget_bytes",
    "check_budget",
    "chunk_rows",
    "rss_bytes",
]

# Rows per chunk stay within these whatever the budget: below the floor per-chunk overhead
# dominates; above the ceiling nothing gets faster, only bigger.
MIN_CHUNK_ROWS = 1_000
MAX_CHUNK_ROWS = 4_000_000


class MemoryBudgetExceeded(MemoryError):
    """A step needed more memory than HERMIT_MEMORY_BUDGET allows."""


def budget_bytes(budget: int | None = None) -> int:
    return memory_budget_from_env() if budget is None else budget


def chunk_rows(bytes_per_row: int, share: float = 0.125, budget: int | None = None) -> int:
    """Rows of one chunk: `share` of the budget at `bytes_per_row` bytes a row."""
    if bytes_per_row <= 0 or not 0 < share <= 1:
        raise ValueError(f"bytes_per_row {bytes_per_row} and share {share} must be positive")
    rows = int(budget_bytes(budget) * share) // bytes_per_row
    return max(MIN_CHUNK_ROWS, min(MAX_CHUNK_ROWS, rows))


def rss_bytes() -> int:
    """The process's resident memory now (Linux /proc), else its peak so far."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def check_budget(step: str, budget: int | None = None) -> int:
    """Raise MemoryBudgetExceeded when the process holds more than the budget; else its RSS."""
    limit = budget_bytes(budget)
    rss = rss_bytes()
    if rss > limit:
        raise MemoryBudgetExceeded(
            f"{step}: the process holds {_gib(rss)} GiB, over the memory budget of "
            f"{_gib(limit)} GiB ({MEMORY_BUDGET_ENV}); set {MEMORY_BUDGET_ENV} higher "
            "(e.g. 8GiB) on a bigger worker, or split the input (fewer sensors a step)"
        )
    return rss


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f}"
