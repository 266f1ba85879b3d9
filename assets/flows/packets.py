"""NetFlow v5 / v9 and IPFIX export packets -> flow rows (READ_COLUMNS).

Decoding is done by maintained libraries through their public APIs: `netflow` (v5, v9) and
`ipfix` (IPFIX, RFC 7011: variable-length fields, enterprise elements). hermit adds what a
collector adds: templates kept per exporter and observation domain across the packets of a
file, absolute times from the exporter's uptime, and one quarantine row per packet that does
not decode or per data set whose template never arrived (the records it holds are unknown).
Option records (sampler tables, interface names) are not flows and are not rows; a sampler
option's rate (v9 SAMPLING_INTERVAL or FLOW_SAMPLER_RANDOM_INTERVAL, IPFIX's sampler
elements) becomes the `sampling_rate` of its exporter's flows that carry none of their own.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import struct
from collections.abc import Iterable

import polars as pl

from assets.flows.decoded import first_value, flow_row, pick_address
from assets.flows.ipfix_messages import (
    OPTION_KEYS,
    ipfix_row,
    load_registry,
    message_records,
    option_rate,
    set_layout_error,
    unpadded,
)
from assets.flows.schema import READ_COLUMNS, empty_read

_EPOCH = dt.datetime(1970, 1, 1)
_U32 = 1 << 32


class PacketDecoder:
    """Decodes a stream of export packets, keeping each exporter's templates."""

    def __init__(self) -> None:
        self._v9: dict[tuple, dict] = {}
        self._ipfix: dict[str | None, object] = {}
        self._domain: dict[tuple, dict] = {}
        self._uptime_rows: list[tuple[dict, dict, dict, int]] = []
        self._v9_rate_rows: list[tuple[dict, dict]] = []
        self.rows: list[dict] = []

    def frame(self) -> pl.DataFrame:
        self._resolve_uptimes()
        # a v9 sampler option may arrive after the first flows it applies to
        for row, state in self._v9_rate_rows:
            if row.get("sampling_rate") is None and state.get("rate"):
                row["sampling_rate"] = state["rate"]
        self._v9_rate_rows.clear()
        if not self.rows:
            return empty_read()
        return pl.DataFrame(self.rows, schema=READ_COLUMNS, orient="row")

    def add(self, payload: bytes, number: int, exporter: str | None = None) -> None:
        """Decode one export packet (one UDP payload, or one IPFIX message)."""
        if len(payload) < 4:
            self._problem(
                "corrupt_packet", f"{len(payload)} bytes: too short for a header", payload, number
            )
            return
        version = struct.unpack("!H", payload[:2])[0]
        try:
            if version == 5:
                self._v5(payload, number, exporter)
            elif version == 9:
                self._v9_packet(payload, number, exporter)
            elif version == 10:
                self._ipfix_message(payload, number, exporter)
            else:
                self._problem(
                    "corrupt_packet",
                    f"not a NetFlow v5/v9 or IPFIX packet (version {version})",
                    payload,
                    number,
                )
        except Exception as exc:  # a damaged packet must not stop the file
            self._problem(
                "corrupt_packet",
                f"NetFlow v{version} packet does not decode: {type(exc).__name__}: {exc}",
                payload,
                number,
            )

    # ---- NetFlow v5 --------------------------------------------------------------------------
    def _v5(self, payload: bytes, number: int, exporter: str | None) -> None:
        from netflow.v5 import V5ExportPacket

        count = struct.unpack("!H", payload[2:4])[0]
        if len(payload) < 24 or not 1 <= count <= 30 or len(payload) < 24 + 48 * count:
            self._problem(
                "corrupt_packet",
                f"NetFlow v5 header says {count} records; the packet holds {len(payload)} "
                "bytes (need 24 + 48 per record, at most 30)",
                payload,
                number,
            )
            return
        packet = V5ExportPacket(payload[: 24 + 48 * count])
        h = packet.header
        export_ms = h.timestamp * 1000 + h.timestamp_nano // 1_000_000
        rate = h.sampling_interval & 0x3FFF
        for flow in packet.flows:
            d = flow.data
            self.rows.append(
                flow_row(
                    number,
                    d,
                    start_us=_uptime_us(export_ms, h.uptime, d["FIRST_SWITCHED"]),
                    end_us=_uptime_us(export_ms, h.uptime, d["LAST_SWITCHED"]),
                    src_addr=str(ipaddress.IPv4Address(d["IPV4_SRC_ADDR"])),
                    dst_addr=str(ipaddress.IPv4Address(d["IPV4_DST_ADDR"])),
                    src_port=d["SRC_PORT"],
                    dst_port=d["DST_PORT"],
                    protocol=d["PROTO"],
                    packets=d["IN_PACKETS"],
                    bytes=d["IN_OCTETS"],
                    tcp_flags=d["TCP_FLAGS"],
                    in_if=d["INPUT"],
                    out_if=d["OUTPUT"],
                    src_as=d["SRC_AS"],
                    dst_as=d["DST_AS"],
                    sampling_rate=rate or None,
                    exporter_address=exporter,
                )
            )

    # ---- NetFlow v9 --------------------------------------------------------------------------
    def _v9_packet(self, payload: bytes, number: int, exporter: str | None) -> None:
        from netflow.v9 import V9ExportPacket, V9TemplateNotRecognized

        layout = set_layout_error(payload, header=20, total=len(payload), zero_tail=True)
        if layout:
            raise ValueError(f"NetFlow v9 packet: {layout}")  # a corrupt_packet entry (caller)
        source_id = struct.unpack("!I", payload[16:20])[0]
        templates = self._v9.setdefault((exporter, source_id), {})
        try:
            packet = V9ExportPacket(payload, templates)
        except V9TemplateNotRecognized:
            # the library gives up on the whole packet: decode it again without the data
            # sets whose template is unknown, and quarantine those sets one by one
            kept, missing = _split_v9(payload, templates)
            for set_id, raw in missing:
                self._problem(
                    "template_missing",
                    f"NetFlow v9 data set {set_id} (source id {source_id}): "
                    "its template never arrived",
                    raw,
                    number,
                )
            packet = V9ExportPacket(kept, templates)
        export_ms = packet.header.timestamp * 1000
        uptime = packet.header.uptime
        state = self._domain.setdefault(("v9", exporter, source_id), {})
        for option in packet.options:
            rate = first_value(option.data, "SAMPLING_INTERVAL", "FLOW_SAMPLER_RANDOM_INTERVAL")
            if isinstance(rate, int) and rate > 0:
                state["rate"] = rate
        for flow in packet.flows:
            d = flow.data
            self.rows.append(_v9_row(d, number, export_ms, uptime, exporter))
            if "problem" not in self.rows[-1]:
                self._v9_rate_rows.append((self.rows[-1], state))

    # ---- IPFIX -------------------------------------------------------------------------------
    def _ipfix_message(self, payload: bytes, number: int, exporter: str | None) -> None:
        from ipfix.message import MessageBuffer

        length = struct.unpack("!H", payload[2:4])[0]
        if length == 16 and len(payload) >= 16:
            return  # a header-only message (a keep-alive): no sets, no records
        layout = set_layout_error(payload)
        if layout:
            raise ValueError(f"IPFIX message: {layout}")  # a corrupt_packet entry (caller)
        load_registry()
        buf = self._ipfix.get(exporter)
        if buf is None:
            buf = self._ipfix[exporter] = MessageBuffer()
        try:
            decoded, missing = message_records(buf, payload)
        except ValueError as exc:
            if "bad template ID 0" not in str(exc):
                raise
            # RFC 7011 lets a set end in padding; the library reads it as a template 0
            decoded, missing = message_records(buf, unpadded(payload))
        export_us = int(buf.export_epoch) * 1_000_000
        state = self._domain.setdefault((exporter, buf.odid), {})
        for is_option, rec in decoded:
            if is_option:  # sampler and system tables describe the exporter, not flows
                for key in OPTION_KEYS:
                    if rec.get(key) is not None:
                        state[key] = rec[key]
                continue
            self.rows.append(ipfix_row(rec, number, export_us, exporter))
            self._uptime_rows.append((self.rows[-1], rec, state, export_us))
        for raw in missing:
            set_id = struct.unpack("!H", raw[:2])[0]
            self._problem(
                "template_missing",
                f"IPFIX data set {set_id} (domain {buf.odid}): its template never arrived",
                raw,
                number,
            )

    def _resolve_uptimes(self) -> None:
        """Times given as uptime need the exporter's boot time (an option record that may come
        later in the file; without one, the message's export time stands in); and a sampling
        rate from a sampler option applies to its exporter's flows."""
        for row, rec, state, export_us in self._uptime_rows:
            init = state.get("systemInitTimeMilliseconds")
            if isinstance(init, dt.datetime):
                boot_us = (init - _EPOCH) // dt.timedelta(microseconds=1)
                for col, key in (
                    ("start_us", "flowStartSysUpTime"),
                    ("end_us", "flowEndSysUpTime"),
                ):
                    if row.get(col) is None and rec.get(key) is not None:
                        row[col] = boot_us + int(rec[key]) * 1000
            if row.get("start_us") is None:
                # no boot time from this exporter in the file: the message's export time is
                # the latest the flow can have been seen
                row["start_us"] = row["end_us"] = export_us
            if row.get("end_us") is None:
                row["end_us"] = row["start_us"]
            if row.get("sampling_rate") is None:
                row["sampling_rate"] = option_rate(state)
        self._uptime_rows.clear()

    def _problem(self, reason: str, detail: str, raw: bytes, number: int) -> None:
        self.rows.append(
            {
                "line_number": number,
                "raw": raw[:256].hex(),
                "problem": reason,
                "problem_detail": detail,
            }
        )


def _uptime_us(export_ms: int, uptime_ms: int, switched_ms: int) -> int:
    """Absolute time of a sysUpTime stamp (modulo 2^32: the uptime counter wraps)."""
    return (export_ms - (uptime_ms - switched_ms) % _U32) * 1000


def _split_v9(payload: bytes, templates: dict) -> tuple[bytes, list[tuple[int, bytes]]]:
    kept, missing, offset = [payload[:20]], [], 20
    while offset + 4 <= len(payload):
        set_id, length = struct.unpack("!HH", payload[offset : offset + 4])
        if length < 4:
            break
        chunk = payload[offset : offset + length]
        if set_id >= 256 and set_id not in templates:
            missing.append((set_id, chunk))
        else:
            kept.append(chunk)
        offset += length
    return b"".join(kept), missing


def _v9_row(d: dict, number: int, export_ms: int, uptime: int, exporter: str | None) -> dict:
    first, last = d.get("FIRST_SWITCHED"), d.get("LAST_SWITCHED")
    start = _uptime_us(export_ms, uptime, first) if first is not None else None
    end = _uptime_us(export_ms, uptime, last) if last is not None else None
    created = d.get("NF_F_FLOW_CREATE_TIME_MSEC")
    if start is None and created:
        start = int(created) * 1000
    if end is None and start is not None and d.get("NF_F_EVENT_TIME_MSEC"):
        end = int(d["NF_F_EVENT_TIME_MSEC"]) * 1000
    if start is None:  # no flow times in the template: the packet's export time stands in
        start = end = export_ms * 1000
    packets = first_value(d, "IN_PKTS", "OUT_PKTS")
    octets = first_value(d, "IN_BYTES", "OUT_BYTES", "NF_F_FWD_FLOW_DELTA_BYTES")
    return flow_row(
        number,
        d,
        start_us=start,
        end_us=end if end is not None else start,
        src_addr=pick_address(d.get("IPV4_SRC_ADDR"), d.get("IPV6_SRC_ADDR")),
        dst_addr=pick_address(d.get("IPV4_DST_ADDR"), d.get("IPV6_DST_ADDR")),
        src_port=d.get("L4_SRC_PORT"),
        dst_port=d.get("L4_DST_PORT"),
        protocol=d.get("PROTOCOL"),
        packets=packets,
        bytes=octets,
        tcp_flags=d.get("TCP_FLAGS"),
        in_if=d.get("INPUT_SNMP"),
        out_if=d.get("OUTPUT_SNMP"),
        src_as=d.get("SRC_AS"),
        dst_as=d.get("DST_AS"),
        sampling_rate=d.get("SAMPLING_INTERVAL") or None,
        exporter_address=exporter,
    )


def decode_packets(payloads: Iterable[tuple[bytes, str | None]]) -> pl.DataFrame:
    """Flow rows of export packets given in order as (payload, exporter address)."""
    decoder = PacketDecoder()
    for number, (payload, exporter) in enumerate(payloads, start=1):
        decoder.add(payload, number, exporter)
    return decoder.frame()
