"""A real collector for the simulated exports: Debian's `nfcapd` on 127.0.0.1.

nfcapd names and rotates its files by the wall clock, not by the flows' times, so a replay
of 2017 runs one short nfcapd per export hour: start it, send that hour's datagrams, stop it
(it closes its file on SIGTERM), and hand back the file it wrote, checked with nfdump's own
count so that a datagram the collector dropped is an error, never a silent loss.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BURST = 32  # datagrams sent before waiting for nfcapd to empty its socket queue
SOCKET_BUFFER = 8 * 1024 * 1024


class CollectorError(RuntimeError):
    """nfcapd is missing, did not start, or did not store every flow sent to it."""


def program(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise CollectorError(
            f"`{name}` is not installed: `hermit simulate --format netflow` feeds a real nfcapd "
            "(Debian/Ubuntu: apt-get install nfdump)"
        )
    return found


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rx_queue(port: int) -> int | None:
    """Bytes queued on the UDP socket bound to `port` (Linux /proc), None if none is bound."""
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            return int(fields[4].split(":")[1], 16)
    return None


def _wait_drained(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _rx_queue(port):
            return
        time.sleep(0.002)


def stored_flows(path: Path) -> int:
    """nfdump's count of the flows in an nfcapd file (`nfdump -I`)."""
    done = subprocess.run(
        [program("nfdump"), "-I", "-r", str(path)],
        capture_output=True,
        env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
        check=False,
        timeout=120,
    )
    found = re.search(rb"^Flows: (\d+)", done.stdout, re.M)
    if not found:
        raise CollectorError(f"nfdump -I {path.name}: {done.stderr.decode(errors='replace')}")
    return int(found.group(1))


def collect_hour(datagrams: list[bytes], expected_flows: int) -> bytes:
    """Bytes of the nfcapd file a fresh nfcapd writes for `datagrams`."""
    nfcapd = program("nfcapd")
    with tempfile.TemporaryDirectory(prefix="hermit-nfcapd-") as tmp:
        out = Path(tmp) / "out"
        out.mkdir()
        port = _free_udp_port()
        proc = subprocess.Popen(
            [nfcapd, "-b", "127.0.0.1", "-p", str(port), "-w", str(out), "-t", "3600",
             "-B", str(SOCKET_BUFFER)],
            env={**os.environ, "TZ": "UTC"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while _rx_queue(port) is None and proc.poll() is None:
                if time.monotonic() > deadline:
                    raise CollectorError("nfcapd did not open its socket within 10 s")
                time.sleep(0.002)
            if proc.poll() is not None:
                log = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                raise CollectorError(f"nfcapd exited at start: {log.strip()[-500:]}")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for i, d in enumerate(datagrams):
                    s.sendto(d, ("127.0.0.1", port))
                    if i % BURST == BURST - 1:
                        _wait_drained(port)
            _wait_drained(port)
            time.sleep(0.01)  # the last datagram read is being stored
        finally:
            proc.send_signal(signal.SIGTERM)
            log = proc.communicate(timeout=60)[0].decode(errors="replace")
        files = sorted(p for p in out.iterdir() if p.name.startswith("nfcapd.") and
                       "current" not in p.name)  # fmt: skip
        if len(files) > 1:
            # the wall clock crossed nfcapd's rotation time: one file, as nfdump merges them
            merged = Path(tmp) / "merged"
            subprocess.run(
                [program("nfdump"), "-R", str(out), "-w", str(merged)],
                env={**os.environ, "TZ": "UTC"},
                capture_output=True,
                check=True,
                timeout=300,
            )
            files = [merged]
        if not files:
            raise CollectorError(f"nfcapd wrote no file: {log.strip()[-500:]}")
        got = stored_flows(files[0])
        if got != expected_flows:
            raise CollectorError(
                f"nfcapd stored {got} of the {expected_flows} flows sent to it: {log[-300:]}"
            )
        return files[0].read_bytes()
