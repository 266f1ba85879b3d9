"""nfcapd files (nfdump 1.6 and 1.7 layouts, any of its compressions) read through Debian's
`nfdump` program: `TZ=UTC nfdump -r FILE -o json` (nfdump prints times in its process's zone).

nfdump exits 0 even on a damaged file and says so on stderr only: any stderr text becomes one
`corrupt_stream` entry, beside the flows it could still print.

Sampling: nfcapd multiplies packets and bytes by the rate an exporter announced (a sampler
options record) and marks the flow `sampled`, which `-o json` prints; the rate itself is not
in the JSON but in the file's sampler records, which `nfdump -E` lists per exporter. Where an
exporter has one rate, its sampled flows get it as `sampling_rate`; with several samplers
of different rates the JSON cannot say which one a flow went through, so the rate stays
null (the counts are still marked as scaled).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import polars as pl

from assets.flows.jsonflows import read_json_flows
from assets.flows.schema import problem_rows

TIMEOUT_S = 600
_EXPORTER_LINE = re.compile(r"^SysID: \d+, IP:\s*(\S+?),")
_SAMPLER_LINE = re.compile(r"Sampler: .*packet interval: (\d+), packet space: (\d+)")


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
        rates = _sampler_rates(program, path) if b'"sampled" : 1' in done.stdout else {}
    text = done.stdout.decode("utf-8", errors="replace")
    # nfdump writes this inside its JSON brackets when the file yields nothing
    text = text.replace("No matching flows\n", "")
    rows = read_json_flows(text, "nfdump_json") if text.strip() else None
    if rows is not None and rates:
        rows = _with_rates(rows, rates)
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


def _sampler_rates(program: str, path: str) -> dict[str, int]:
    """Exporter address -> its one sampling rate, from `nfdump -E` (the file's sampler
    records); exporters with several different rates are left out."""
    done = subprocess.run(
        [program, "-E", path],
        capture_output=True,
        env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
        timeout=TIMEOUT_S,
        check=False,
    )
    found: dict[str, set[int]] = {}
    exporter = None
    for line in done.stdout.decode("utf-8", errors="replace").splitlines():
        if m := _EXPORTER_LINE.match(line.strip()):
            exporter = m.group(1)
        elif (m := _SAMPLER_LINE.search(line)) and exporter is not None:
            interval, space = int(m.group(1)), int(m.group(2))
            if interval > 0:
                found.setdefault(exporter, set()).add((interval + space) // interval)
    return {ip: next(iter(r)) for ip, r in found.items() if len(r) == 1}


def _with_rates(rows: pl.DataFrame, rates: dict[str, int]) -> pl.DataFrame:
    rate = pl.col("exporter_address").replace_strict(rates, default=None, return_dtype=pl.Int64)
    return rows.with_columns(
        sampling_rate=pl.when(pl.col("counts_scaled") & pl.col("sampling_rate").is_null())
        .then(rate.cast(rows.schema["sampling_rate"]))
        .otherwise(pl.col("sampling_rate"))
    )
