"""The memory budget setting and the chunk sizes derived from it."""

from __future__ import annotations

import pytest

from assets.config import Settings, parse_size
from assets.memory import MAX_CHUNK_ROWS, MemoryBudgetExceeded, check_budget, chunk_rows


def test_sizes_parse_in_binary_and_decimal_units():
    assert parse_size("4GiB") == 4 * 2**30
    assert parse_size("512 MiB") == 512 * 2**20
    assert parse_size("1.5G") == 1_500_000_000
    assert parse_size("2000") == 2000
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("HERMIT_MEMORY_BUDGET", "6GiB")
    assert Settings.from_env().memory_budget == 6 * 2**30
    monkeypatch.setenv("HERMIT_MEMORY_BUDGET", "six")
    with pytest.raises(ValueError, match="HERMIT_MEMORY_BUDGET"):
        Settings.from_env()
    monkeypatch.delenv("HERMIT_MEMORY_BUDGET")
    assert Settings.from_env().memory_budget == 3 * 2**30


def test_chunks_follow_the_budget(monkeypatch):
    monkeypatch.setenv("HERMIT_MEMORY_BUDGET", "1GiB")
    small = chunk_rows(256)
    monkeypatch.setenv("HERMIT_MEMORY_BUDGET", "4GiB")
    assert chunk_rows(256) == 4 * small
    assert chunk_rows(1, budget=2**40) == MAX_CHUNK_ROWS


def test_a_step_over_budget_says_so():
    with pytest.raises(
        MemoryBudgetExceeded, match=r"validate conn 2017-04-02: .*HERMIT_MEMORY_BUDGET"
    ):
        check_budget("validate conn 2017-04-02", budget=1 << 20)
    assert check_budget("fine", budget=1 << 50) > 0
