"""IPFIX (RFC 7011) through the `ipfix` library: messages of an RFC 5655 file, the records of
one message, padded template sets, sampler and boot-time options, and a record's flow row."""

from __future__ import annotations

import datetime as dt
import struct

from assets.flows.decoded import first_value, flow_row, pick_address

_EPOCH = dt.datetime(1970, 1, 1)


def load_registry() -> None:
    """Load IANA's information elements (and RFC 5103's reverse ones) into the ipfix
    library's registry once; elements outside it decode as octet arrays by number."""
    import ipfix.ie

    if not _IPFIX_LOADED:
        ipfix.ie.use_iana_default()
        ipfix.ie.use_5103_default()
        _IPFIX_LOADED.append(True)


_IPFIX_LOADED: list[bool] = []


OPTION_KEYS = (
    "systemInitTimeMilliseconds",
    "samplingInterval",
    "samplerRandomInterval",
    "samplingPacketInterval",
    "samplingPacketSpace",
    "samplingSize",
    "samplingPopulation",
)


def option_rate(state: dict) -> int | None:
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


def message_records(buf, payload: bytes) -> tuple[list[tuple[bool, dict]], list[bytes]]:
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


def set_layout_error(
    message: bytes, header: int = 16, total: int | None = None, zero_tail: bool = False
) -> str | None:
    """Why the sets after a `header`-byte header cannot be walked (None when they can): every
    set header must give a length of at least 4 that stays inside the first `total` bytes
    (default: the IPFIX message length). The ipfix library loops forever on a set of length 0
    (found by the fuzz test), and the netflow library ends a v9 packet there silently, so a
    packet is checked first. zero_tail: zero bytes after the last set are padding (NetFlow v9
    exporters fill packets so; an IPFIX message's length excludes it)."""
    if total is None:
        total = min(len(message), struct.unpack("!H", message[2:4])[0])
    offset = header
    while offset + 4 <= total:
        set_id, length = struct.unpack("!HH", message[offset : offset + 4])
        if length < 4:
            if zero_tail and not message[offset:total].strip(b"\x00"):
                return None
            return f"byte {offset}: set {set_id} claims {length} bytes (a set header is 4)"
        if offset + length > total:
            return f"byte {offset}: set {set_id} of {length} bytes overruns the message"
        offset += length
    return None


def unpadded(message: bytes) -> bytes:
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


_IPFIX_START = (
    "flowStartMilliseconds",
    "flowStartMicroseconds",
    "flowStartNanoseconds",
    "flowStartSeconds",
)


_IPFIX_END = ("flowEndMilliseconds", "flowEndMicroseconds", "flowEndNanoseconds", "flowEndSeconds")


def _ipfix_time(rec: dict, absolute: tuple[str, ...], delta: str, export_us: int) -> int | None:
    value = first_value(rec, *absolute)
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


def ipfix_row(rec: dict, number: int, export_us: int, exporter: str | None) -> dict:
    start = _ipfix_time(rec, _IPFIX_START, "flowStartDeltaMicroseconds", export_us)
    end = _ipfix_time(rec, _IPFIX_END, "flowEndDeltaMicroseconds", export_us)
    address = first_value(rec, "exporterIPv4Address", "exporterIPv6Address")
    return flow_row(
        number,
        rec,
        start_us=start,
        end_us=end,
        src_addr=pick_address(rec.get("sourceIPv4Address"), rec.get("sourceIPv6Address")),
        dst_addr=pick_address(rec.get("destinationIPv4Address"), rec.get("destinationIPv6Address")),
        src_port=rec.get("sourceTransportPort"),
        dst_port=rec.get("destinationTransportPort"),
        protocol=rec.get("protocolIdentifier"),
        packets=first_value(rec, "packetDeltaCount", "packetTotalCount"),
        bytes=first_value(rec, "octetDeltaCount", "octetTotalCount"),
        tcp_flags=rec.get("tcpControlBits"),
        in_if=rec.get("ingressInterface"),
        out_if=rec.get("egressInterface"),
        src_as=rec.get("bgpSourceAsNumber"),
        dst_as=rec.get("bgpDestinationAsNumber"),
        sampling_rate=first_value(rec, "samplingInterval", "samplerRandomInterval") or None,
        exporter_address=exporter or (str(address) if address is not None else None),
    )


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
