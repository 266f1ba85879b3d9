"""Export packets out of a packet capture (pcap / pcapng) of a collector's UDP port, via dpkt.

Only UDP datagrams that start like a NetFlow v5/v9 or IPFIX header are export packets; the
capture's other packets (BMP, BGP, ARP, ...) are not flow records and are skipped.
"""

from __future__ import annotations

import io
import socket
import struct
from collections.abc import Iterator

_FLOW_VERSIONS = (5, 9, 10)


def udp_payloads(data: bytes) -> tuple[list[tuple[bytes, str]], str | None]:
    """(payload, exporter address) of each export datagram, in capture order; and why the
    capture stops early, if it does (the datagrams before the damage are kept)."""
    import dpkt

    out: list[tuple[bytes, str]] = []
    try:
        reader = (
            dpkt.pcapng.Reader(io.BytesIO(data))
            if data[:4] == b"\x0a\x0d\x0d\x0a"
            else dpkt.pcap.Reader(io.BytesIO(data))
        )
        link = reader.datalink()
        for _ts, frame in reader:
            found = _datagram(frame, link)
            if found is not None:
                out.append(found)
    except Exception as exc:  # dpkt raises its own and struct errors on a cut capture
        return (
            out,
            f"capture breaks off after {len(out)} export datagrams: {type(exc).__name__}: {exc}",
        )
    return out, None


def _datagram(frame: bytes, link: int) -> tuple[bytes, str] | None:
    import dpkt

    try:
        if link == dpkt.pcap.DLT_EN10MB:
            ip = dpkt.ethernet.Ethernet(frame).data
        elif link == dpkt.pcap.DLT_LINUX_SLL:
            ip = dpkt.sll.SLL(frame).data
        elif link in (dpkt.pcap.DLT_RAW, 101):
            ip = dpkt.ip.IP(frame) if frame[0] >> 4 == 4 else dpkt.ip6.IP6(frame)
        elif link == dpkt.pcap.DLT_NULL:
            ip = dpkt.loopback.Loopback(frame).data
        else:
            return None
    except (dpkt.UnpackError, IndexError):
        return None
    udp = getattr(ip, "data", None)
    if not isinstance(udp, dpkt.udp.UDP) or len(udp.data) < 4:
        return None
    payload = bytes(udp.data)
    if struct.unpack("!H", payload[:2])[0] not in _FLOW_VERSIONS:
        return None
    family = socket.AF_INET6 if isinstance(ip, dpkt.ip6.IP6) else socket.AF_INET
    return payload, socket.inet_ntop(family, ip.src)


def iter_payloads(data: bytes) -> Iterator[bytes]:
    yield from (p for p, _ in udp_payloads(data)[0])
