"""NetFlow v5 / v9 and IPFIX export packets -> flow rows (READ_COLUMNS).

Decoding is done by maintained libraries through their public APIs: `netflow` (v5, v9) and
`ipfix` (IPFIX, RFC 7011: variable-length fields, enterprise elements). hermit adds what a
collector adds: templates kept per exporter and observation domain across the packets of a
file, absolute times from the exporter's uptime, and one quarantine row per packet that does
not decode or per data set whose template never arrived (the records it holds are unknown).
Option records (sampler tables, interface names) are not flows and are not rows.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import struct
from collections.abc import Iterable

import polars as pl

from assets.flows.schema import READ_COLUMNS, empty_read

_EPOCH = dt.datetime(1970, 1, 1)
_U32 = 1 << 32


def _ipfix_registry() -> None:
    """Load IANA's information elements (and RFC 5103's reverse ones) into the ipfix
    library's registry once; elements outside it decode as octet arrays by number."""
    import ipfix.ie

    if not _IPFIX_LOADED:
        ipfix.ie.use_iana_default()
        ipfix.ie.use_5103_default()
        _IPFIX_LOADED.append(True)


_IPFIX_LOADED: list[bool] = []


class PacketDecoder:
    """Decodes a stream of export packets, keeping each exporter's templates."""

    def __init__(self) -> None:
        self._v9: dict[tuple, dict] = {}
        self._ipfix: dict[str | None, object] = {}
        self._domain: dict[tuple, dict] = {}
        self._uptime_rows: list[tuple[dict, dict, dict, int]] = []
        self.rows: list[dict] = []

    def frame(self) -> pl.DataFrame:
        self._resolve_uptimes()
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
                _row(
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
        for flow in packet.flows:
            d = flow.data
            self.rows.append(_v9_row(d, number, export_ms, uptime, exporter))

    # ---- IPFIX -------------------------------------------------------------------------------
    def _ipfix_message(self, payload: bytes, number: int, exporter: str | None) -> None:
        from ipfix.message import MessageBuffer

        length = struct.unpack("!H", payload[2:4])[0]
        if length == 16 and len(payload) >= 16:
            return  # a header-only message (a keep-alive): no sets, no records
        _ipfix_registry()
        buf = self._ipfix.get(exporter)
        if buf is None:
            buf = self._ipfix[exporter] = MessageBuffer()
        try:
            decoded, missing = _ipfix_records(buf, payload)
        except ValueError as exc:
            if "bad template ID 0" not in str(exc):
                raise
            # RFC 7011 lets a set end in padding; the library reads it as a template 0
            decoded, missing = _ipfix_records(buf, _unpadded(payload))
        export_us = int(buf.export_epoch) * 1_000_000
        state = self._domain.setdefault((exporter, buf.odid), {})
        for is_option, rec in decoded:
            if is_option:  # sampler and system tables describe the exporter, not flows
                for key in _OPTION_KEYS:
                    if rec.get(key) is not None:
                        state[key] = rec[key]
                continue
            self.rows.append(_ipfix_row(rec, number, export_us, exporter))
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
                row["sampling_rate"] = _option_rate(state)
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


_OPTION_KEYS = (
    "systemInitTimeMilliseconds",
    "samplingInterval",
    "samplerRandomInterval",
    "samplingPacketInterval",
    "samplingPacketSpace",
    "samplingSize",
    "samplingPopulation",
)


def _option_rate(state: dict) -> int | None:
    """1-in-N from the exporter's sampler options (RFC 7011 / PSAMP RFC 5477 elements)."""
    if state.get("samplingInterval") or state.get("samplerRandomInterval"):
        return int(state.get("samplingInterval") or state["samplerRandomInterval"])
    interval, space = state.get("samplingPacketInterval"), state.get("samplingPacketSpace")
    if interval and space is not None:
        return round((interval + space) / interval)
    size, population = state.get("samplingSize"), state.get("samplingPopulation")
    if size and population:
        return round(population / size)
    return None


def _ipfix_records(buf, payload: bytes) -> tuple[list[tuple[bool, dict]], list[bytes]]:
    """Records of one message as (from an options template?, record); and the data sets
    whose template is unknown."""
    from ipfix.template import Template

    def decode(tmpl, mbuf, offset, recinf=None):
        rec, offset = Template.decode_namedict_from(tmpl, mbuf, offset, recinf=recinf)
        return (tmpl.scopecount > 0, rec), offset

    missing: list[bytes] = []
    buf.unknown_data_set_hook = lambda _msg, raw: missing.append(bytes(raw))
    buf.from_bytes(payload)
    return list(buf.record_iterator(decode_fn=decode)), missing


def _unpadded(message: bytes) -> bytes:
    """The message with the zero padding at the end of its template sets removed."""
    sets, offset = [], 16
    while offset + 4 <= len(message):
        set_id, length = struct.unpack("!HH", message[offset : offset + 4])
        if length < 4:
            break
        body = message[offset + 4 : offset + length]
        if set_id in (2, 3):
            body = body.rstrip(b"\x00")
            body += b"\x00" * (len(body) % 2)  # field specifiers are 2-byte aligned
        sets.append(struct.pack("!HH", set_id, len(body) + 4) + body)
        offset += length
    body = b"".join(sets)
    return message[:2] + struct.pack("!H", 16 + len(body)) + message[4:16] + body


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


def _first(d: dict, *keys: str):
    for k in keys:
        v = d.get(k)
        if v is not None:
            return v
    return None


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
    packets = _first(d, "IN_PKTS", "OUT_PKTS")
    octets = _first(d, "IN_BYTES", "OUT_BYTES", "NF_F_FWD_FLOW_DELTA_BYTES")
    return _row(
        number,
        d,
        start_us=start,
        end_us=end if end is not None else start,
        src_addr=_pick(d.get("IPV4_SRC_ADDR"), d.get("IPV6_SRC_ADDR")),
        dst_addr=_pick(d.get("IPV4_DST_ADDR"), d.get("IPV6_DST_ADDR")),
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


_IPFIX_START = (
    "flowStartMilliseconds",
    "flowStartMicroseconds",
    "flowStartNanoseconds",
    "flowStartSeconds",
)
_IPFIX_END = ("flowEndMilliseconds", "flowEndMicroseconds", "flowEndNanoseconds", "flowEndSeconds")


def _ipfix_time(rec: dict, absolute: tuple[str, ...], delta: str, export_us: int) -> int | None:
    value = _first(rec, *absolute)
    if isinstance(value, dt.datetime):
        naive = (
            value.replace(tzinfo=None)
            if value.tzinfo is None
            else value.astimezone(dt.UTC).replace(tzinfo=None)
        )
        return (naive - _EPOCH) // dt.timedelta(microseconds=1)
    if isinstance(value, int | float):
        return int(value * 1_000_000)
    if rec.get(delta) is not None:
        return export_us - int(rec[delta])
    return None  # maybe an uptime: resolved once the file's option records are known


def _ipfix_row(rec: dict, number: int, export_us: int, exporter: str | None) -> dict:
    start = _ipfix_time(rec, _IPFIX_START, "flowStartDeltaMicroseconds", export_us)
    end = _ipfix_time(rec, _IPFIX_END, "flowEndDeltaMicroseconds", export_us)
    address = _first(rec, "exporterIPv4Address", "exporterIPv6Address")
    return _row(
        number,
        rec,
        start_us=start,
        end_us=end,
        src_addr=_pick(rec.get("sourceIPv4Address"), rec.get("sourceIPv6Address")),
        dst_addr=_pick(rec.get("destinationIPv4Address"), rec.get("destinationIPv6Address")),
        src_port=rec.get("sourceTransportPort"),
        dst_port=rec.get("destinationTransportPort"),
        protocol=rec.get("protocolIdentifier"),
        packets=_first(rec, "packetDeltaCount", "packetTotalCount"),
        bytes=_first(rec, "octetDeltaCount", "octetTotalCount"),
        tcp_flags=rec.get("tcpControlBits"),
        in_if=rec.get("ingressInterface"),
        out_if=rec.get("egressInterface"),
        src_as=rec.get("bgpSourceAsNumber"),
        dst_as=rec.get("bgpDestinationAsNumber"),
        sampling_rate=_first(rec, "samplingInterval", "samplerRandomInterval") or None,
        exporter_address=exporter or (str(address) if address is not None else None),
    )


def _pick(v4, v6) -> str | None:
    """The flow's address when a template carries both families: the one that is set (a
    dual-stack template fills the other with zeros)."""
    v4 = None if v4 is None else str(v4)
    v6 = None if v6 is None else str(v6)
    if v4 is not None and (v4 != "0.0.0.0" or v6 in (None, "::")):
        return v4
    return v6 if v6 is not None else v4


def _row(number: int, decoded: dict, **values) -> dict:
    values["counts_scaled"] = False  # an exporter's counts are never scaled by a collector
    values["line_number"] = number
    values["raw"] = json.dumps(decoded, default=str, sort_keys=True)
    for k in ("tcp_flags", "in_if", "out_if", "src_as", "dst_as", "sampling_rate"):
        if isinstance(values.get(k), bytes):
            values[k] = int.from_bytes(values[k], "big")
    return values


def decode_packets(payloads: Iterable[tuple[bytes, str | None]]) -> pl.DataFrame:
    """Flow rows of export packets given in order as (payload, exporter address)."""
    decoder = PacketDecoder()
    for number, (payload, exporter) in enumerate(payloads, start=1):
        decoder.add(payload, number, exporter)
    return decoder.frame()


def ipfix_messages(data: bytes) -> tuple[list[bytes], str | None]:
    """An RFC 5655 file split into its messages; and why it stops early, if it does."""
    out, offset = [], 0
    while offset < len(data):
        if len(data) - offset < 16:
            return out, f"{len(data) - offset} bytes after the last message: a truncated header"
        version, length = struct.unpack("!HH", data[offset : offset + 4])
        if version != 10 or length < 16:
            return (
                out,
                f"byte {offset}: not an IPFIX message header (version {version}, length {length})",
            )
        if offset + length > len(data):
            return out, f"byte {offset}: message of {length} bytes cut off at {len(data) - offset}"
        out.append(data[offset : offset + length])
        offset += length
    return out, None
