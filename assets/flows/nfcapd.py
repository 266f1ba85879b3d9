"""nfcapd files (nfdump 1.6 and 1.7 layouts, any of its compressions) read through Debian's
`nfdump` program: `TZ=UTC nfdump -r FILE -o json` (nfdump prints times in its process's zone).

nfdump exits 0 even on a damaged file and says so on stderr only: any stderr text becomes one
`corrupt_stream` entry, beside the flows it could still print.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import polars as pl

from assets.flows.jsonflows import read_json_flows
from assets.flows.schema import problem_rows

TIMEOUT_S = 600


class NfdumpMissing(RuntimeError):
    """nfcapd files need Debian's `nfdump` package; without it they cannot be read."""


def nfdump_program() -> str:
    found = os.environ.get("HERMIT_NFDUMP") or shutil.which("nfdump")
    if not found:
        raise NfdumpMissing(
            "reading nfcapd files needs the nfdump program (Debian/Ubuntu: apt-get install "
            "nfdump), or HERMIT_NFDUMP pointing at it"
        )
    return found


def read_nfcapd(data: bytes) -> pl.DataFrame:
    """Flow rows of one nfcapd file's bytes."""
    program = nfdump_program()
    with tempfile.TemporaryDirectory(prefix="hermit-nfcapd-") as tmp:
        path = os.path.join(tmp, "nfcapd.current")
        with open(path, "wb") as f:
            f.write(data)
        done = subprocess.run(
            [program, "-r", path, "-o", "json"],
            capture_output=True,
            env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
            timeout=TIMEOUT_S,
            check=False,
        )
    text = done.stdout.decode("utf-8", errors="replace")
    # nfdump writes this inside its JSON brackets when the file yields nothing
    text = text.replace("No matching flows\n", "")
    rows = read_json_flows(text, "nfdump_json") if text.strip() else None
    trouble = done.stderr.decode("utf-8", errors="replace").strip()
    if done.returncode != 0 and not trouble:
        trouble = f"nfdump exited with status {done.returncode}"
    parts = [r for r in (rows,) if r is not None]
    if trouble:
        parts.append(problem_rows("corrupt_stream", f"nfdump: {trouble}"[:1000]))
    return (
        pl.concat(parts, how="vertical")
        if parts
        else problem_rows("corrupt_stream", "nfdump printed nothing for this file")
    )
