"""Helpers for the flow tests: the real data folder, nfdump/nfcapd, and files in a raw zone."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from assets.validated.transform import RawFile

FLOWS = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "flows"
needs_realdata = pytest.mark.skipif(not FLOWS.is_dir(), reason="../shared/realdata is absent")


def require_program(name: str) -> str:
    """The program's path; skips when it is missing (fails in CI: HERMIT_REQUIRE_SERVICES)."""
    found = shutil.which(name)
    if not found:
        message = f"{name} is not installed (.ci/services.sh installs Debian's nfdump package)"
        if os.environ.get("HERMIT_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def raw_file(data: bytes, name: str, folder: dt.date, exporter: str = "router1") -> RawFile:
    return RawFile(
        source_file=f"flows/{exporter}/{folder.isoformat()}/{name}",
        folder_day=folder,
        sensor=exporter,
        load=lambda: data,
    )
