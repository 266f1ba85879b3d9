"""The day-wide repeat finder: the same positions whether its hashes stay in memory or move
to bucket files, nulls never repeating, and nothing left on disk."""

from __future__ import annotations

import os

import numpy as np
import polars as pl

from assets.repeats import RepeatFinder


def _chunks(seed: int) -> list[pl.Series]:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 2**63, size=5_000, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    values[4_000] = values[10]  # a repeat far apart
    values[4_001] = values[4_000]  # and a third of it
    values[2_000] = values[1_999]  # neighbours
    s = pl.Series("h", values, dtype=pl.UInt64)
    s = pl.Series("h", [None if i % 97 == 0 else v for i, v in enumerate(s.to_list())], pl.UInt64)
    s[194] = s[0]  # nulls never count as repeats: 0 and 194 are both null
    return [s.slice(i, 700) for i in range(0, s.len(), 700)]


def test_in_memory_and_bucketed_find_the_same_repeats(tmp_path, monkeypatch):
    monkeypatch.setenv("HERMIT_SPILL_DIR", str(tmp_path))
    found = []
    for memory in (10**9, 1_000, 1):
        with RepeatFinder(memory) as finder:
            for chunk in _chunks(3):
                finder.add(chunk)
            assert finder.on_disk == (memory < 5_000)
            found.append(finder.repeated().to_list())
    assert found[0] == [10, 1_999, 2_000, 4_000, 4_001]
    assert found[1] == found[0] and found[2] == found[0]
    assert os.listdir(tmp_path) == []


def test_nothing_repeats_in_distinct_hashes():
    with RepeatFinder(100) as finder:
        finder.add(pl.Series(np.arange(1_000, dtype=np.uint64) << np.uint64(50)))
        assert finder.repeated().len() == 0
