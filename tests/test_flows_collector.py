"""A real collector: Debian's nfcapd on 127.0.0.1 receives the real export packets of
../shared/realdata/flows as UDP datagrams and writes nfcapd files; hermit reads those files
(through nfdump) and its flows are compared with pmacct's decoding of the same packets."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest
from flows_oracle import match_share, pmacct_rows
from flows_support import FLOWS, needs_realdata, raw_file, require_program

from assets.flows.capture import udp_payloads
from assets.flows.transform import validate_flows

pytestmark = needs_realdata


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _rx_queue(port: int) -> int | None:
    """Bytes waiting in the receive queue of the UDP socket bound to `port` (Linux)."""
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            return int(fields[4].split(":")[1], 16)
    return None


def collect(datagrams: list[bytes], workdir: Path) -> tuple[list[Path], int]:
    """Send `datagrams` to a fresh nfcapd; stop it; return the files it wrote and how many
    packets it says it received."""
    nfcapd = require_program("nfcapd")
    out = workdir / "nfcapd"
    out.mkdir(parents=True)
    port = _free_udp_port()
    env = {**os.environ, "TZ": "UTC"}
    cmd = [nfcapd, "-b", "127.0.0.1", "-p", str(port), "-w", str(out), "-t", "3600"]
    proc = subprocess.Popen(
        cmd + ["-B", "4194304"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        for _ in range(200):
            if _bound(port) or proc.poll() is not None:
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i, d in enumerate(datagrams):
                s.sendto(d, ("127.0.0.1", port))
                if i % 32 == 31:  # let nfcapd drain its socket before the buffer fills
                    _drain(port)
        _drain(port)
        time.sleep(0.2)  # the last datagram read is being stored
    finally:
        proc.send_signal(signal.SIGTERM)  # nfcapd closes and renames its file on exit
        log = proc.communicate(timeout=30)[0].decode(errors="replace")
    received = sum(int(n) for n in re.findall(r"Packets: (\d+)", log))
    return sorted(p for p in out.rglob("nfcapd.*") if "current" not in p.name), received


def _drain(port: int) -> None:
    for _ in range(500):
        if not _rx_queue(port):
            return
        time.sleep(0.01)


def read_collected(files: list[Path], exporter: str) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """hermit's flows from nfcapd's files, each placed in the folder of its latest flow."""
    from assets.flows.readers import read_flow_file

    valid, quarantine, counts = [], [], {"raw_records": 0}
    for f in files:
        data = f.read_bytes()
        starts = read_flow_file(data, f.name)[0]["start_us"].drop_nulls()
        days = pl.from_epoch(starts, time_unit="us").dt.date()
        lo, hi = (days.min(), days.max()) if days.len() else (dt.date(2020, 1, 1),) * 2
        rf = raw_file(data, f.name, hi, exporter)
        day = lo
        while day <= hi:
            r = validate_flows([rf], day, (hi - lo).days)
            valid.append(r.valid)
            quarantine.append(r.quarantine)
            if day == hi:
                counts["raw_records"] += r.counts["raw_records"]
            day += dt.timedelta(days=1)
    return pl.concat(valid), pl.concat(quarantine), counts


PMACCT = sorted((FLOWS / "pmacct" / "tests").iterdir()) if FLOWS.is_dir() else []


@pytest.mark.parametrize("case", PMACCT, ids=lambda p: p.name)
def test_nfcapd_files_match_pmacct_flow_by_flow(case: Path, tmp_path: Path):
    require_program("nfdump")
    valid = []
    for i, pcap in enumerate(sorted(case.glob("traffic-*.pcap"))):
        datagrams = [p for p, _ in udp_payloads(pcap.read_bytes())[0]]
        files, received = collect(datagrams, tmp_path / f"source{i}")
        assert received == len(datagrams), "nfcapd did not receive every datagram"
        v, q, counts = read_collected(files, f"source{i}")
        assert counts["raw_records"] == v.height + q.height
        assert v["format"].unique().to_list() in ([], ["nfcapd"])
        valid.append(v)
    share, total = match_share(pl.concat(valid), pmacct_rows(case))
    print(f"pmacct oracle {case.name}: {share:.1%} of {total} flows match (via nfcapd)")
    assert share >= 0.85


def _device(name: str) -> str:
    return re.split(r"_(?:opt)?tpl|_data|_tplopt", name.removesuffix(".dat"))[0]


def test_logstash_payloads_through_nfcapd(tmp_path: Path):
    """Every device's packets, its template packets first, sent to its own nfcapd: hermit reads
    flows from the files nfcapd wrote for most devices, and nothing is lost."""
    require_program("nfdump")
    folder = FLOWS / "logstash-codec-netflow"
    devices: dict[str, list[Path]] = {}
    for p in sorted(folder.glob("*.dat")):
        devices.setdefault(_device(p.name), []).append(p)
    with_data = 0
    report = []
    for n, (device, paths) in enumerate(sorted(devices.items())):
        ordered = sorted(paths, key=lambda p: ("tpl" not in p.name, p.name))
        files, received = collect([p.read_bytes() for p in ordered], tmp_path / f"d{n}")
        v, q, counts = (
            read_collected(files, device)
            if files
            else (pl.DataFrame(), pl.DataFrame(), {"raw_records": 0})
        )
        assert counts["raw_records"] == v.height + q.height
        report.append(
            f"{device}: sent {len(ordered)}, nfcapd got {received}, hermit {v.height} flows"
        )
        with_data += v.height > 0
    print("\n".join(report))
    assert with_data >= 0.7 * len(devices), report
