"""NetFlow v9 export packets (RFC 3954), written with struct: what a border router sends.

A packet is a 20-byte header (version 9, record count, the exporter's uptime in ms, the
export time in unix seconds, a packet sequence number, a source id) and flowsets: the data
template (flowset 0), when sampling the sampler options template (flowset 1) with its one
options record, and data flowsets of flow records. Templates are repeated every
`TEMPLATE_EVERY` packets, as exporters do, so a collector that starts late still learns them.

Flow times are uptime stamps (FIRST_SWITCHED, LAST_SWITCHED): ms since the exporter booted,
so a collector turns them into absolute times with the header's uptime and export time.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

DATA_TEMPLATE_ID = 256
OPTIONS_TEMPLATE_ID = 257
TEMPLATE_EVERY = 20
MAX_PACKET_BYTES = 1400  # within one Ethernet frame, like a router's exports

# (field type, length) of each data record, in order (RFC 3954 field type numbers)
DATA_FIELDS = (
    (8, 4),  # IPV4_SRC_ADDR
    (12, 4),  # IPV4_DST_ADDR
    (7, 2),  # L4_SRC_PORT
    (11, 2),  # L4_DST_PORT
    (4, 1),  # PROTOCOL
    (6, 1),  # TCP_FLAGS
    (10, 2),  # INPUT_SNMP
    (14, 2),  # OUTPUT_SNMP
    (2, 4),  # IN_PKTS
    (1, 8),  # IN_BYTES (64-bit: a long stream's piece can pass 4 GiB)
    (22, 4),  # FIRST_SWITCHED
    (21, 4),  # LAST_SWITCHED
)
# The sampler options record: scope System (type 1: the whole exporter), one option,
# SAMPLING_INTERVAL (34): one packet in N. nfcapd 1.7.1 takes an exporter-wide rate from an
# options template that holds #34 alone (with #35 SAMPLING_ALGORITHM beside it, or with the
# per-sampler #48/#49/#50 set, it records no sampler and leaves the counts unscaled).
OPTION_SCOPE = ((1, 4),)
OPTION_FIELDS = ((34, 4),)

_RECORD = struct.Struct("!IIHHBBHHIQII")
_HEADER = struct.Struct("!HHIIII")


@dataclass
class ExportState:
    """What an exporter carries from packet to packet."""

    boot_ms: int  # unix time of the exporter's boot, ms
    source_id: int = 0
    sequence: int = 0
    sent: int = 0


def _pad4(body: bytes) -> bytes:
    return body + b"\0" * (-len(body) % 4)


def template_flowset() -> bytes:
    fields = DATA_FIELDS
    body = struct.pack("!HH", DATA_TEMPLATE_ID, len(fields))
    body += b"".join(struct.pack("!HH", t, n) for t, n in fields)
    return struct.pack("!HH", 0, 4 + len(body)) + body


def options_template_flowset() -> bytes:
    body = struct.pack("!HHH", OPTIONS_TEMPLATE_ID, 4 * len(OPTION_SCOPE), 4 * len(OPTION_FIELDS))
    body += b"".join(struct.pack("!HH", t, n) for t, n in OPTION_SCOPE + OPTION_FIELDS)
    body = _pad4(body)
    return struct.pack("!HH", 1, 4 + len(body)) + body


def sampler_flowset(rate: int, source_id: int) -> bytes:
    body = _pad4(struct.pack("!II", source_id, rate))
    return struct.pack("!HH", OPTIONS_TEMPLATE_ID, 4 + len(body)) + body


def packets(flows: dict[str, np.ndarray], state: ExportState, sampling: int = 1) -> list[bytes]:
    """Export packets for `flows` (already in export order), one per ~MAX_PACKET_BYTES.

    `flows` columns: src, dst (IPv4 ints), sport, dport, proto, flags, in_if, out_if,
    packets, bytes, first_ms, last_ms, export_ms (unix ms, int64). A packet holds flows
    exported in the same second at most 30 s apart, since its header carries one export time.
    """
    sampled = sampling > 1
    rec = _RECORD
    n = len(flows["src"])
    out: list[bytes] = []
    if n == 0:
        return out
    cols = {k: np.asarray(v) for k, v in flows.items()}
    export_ms = cols["export_ms"].astype(np.int64)
    i = 0
    while i < n:
        first_export = int(export_ms[i])
        head = b""
        # and in a call's first packet: each call's packets may go to a collector just started
        if state.sent % TEMPLATE_EVERY == 0 or i == 0:
            head = template_flowset()
            if sampled:
                head += options_template_flowset() + sampler_flowset(sampling, state.source_id)
        room = (MAX_PACKET_BYTES - _HEADER.size - len(head) - 4) // rec.size
        j = i
        while j < n and j - i < room and export_ms[j] - first_export < 30_000:
            j += 1
        # whole seconds in the header: the uptime is taken at that second, so the collector's
        # export time - (uptime - stamp) gives each stamp back to the ms
        send_s = -(-int(export_ms[j - 1]) // 1000)
        uptime = send_s * 1000 - state.boot_ms
        records = []
        for k in range(i, j):
            values = (
                int(cols["src"][k]),
                int(cols["dst"][k]),
                int(cols["sport"][k]),
                int(cols["dport"][k]),
                int(cols["proto"][k]),
                int(cols["flags"][k]),
                int(cols["in_if"][k]),
                int(cols["out_if"][k]),
                int(cols["packets"][k]),
                int(cols["bytes"][k]),
                (int(cols["first_ms"][k]) - state.boot_ms) % (1 << 32),
                (int(cols["last_ms"][k]) - state.boot_ms) % (1 << 32),
            )
            records.append(rec.pack(*values))
        body = _pad4(b"".join(records))
        data = struct.pack("!HH", DATA_TEMPLATE_ID, 4 + len(body)) + body
        count = (j - i) + (1 if head else 0) + (2 if head and sampled else 0)
        header = _HEADER.pack(9, count, uptime % (1 << 32), send_s, state.sequence, state.source_id)
        out.append(header + head + data)
        state.sequence = (state.sequence + 1) % (1 << 32)
        state.sent += 1
        i = j
    return out
