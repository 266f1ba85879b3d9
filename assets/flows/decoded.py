"""Helpers shared by the binary decoders: one decoded flow record -> a READ_COLUMNS row."""

from __future__ import annotations

import json


def first_value(d: dict, *keys: str):
    for k in keys:
        v = d.get(k)
        if v is not None:
            return v
    return None


def pick_address(v4, v6) -> str | None:
    """The flow's address when a template carries both families: the one that is set (a
    dual-stack template fills the other with zeros)."""
    v4 = None if v4 is None else str(v4)
    v6 = None if v6 is None else str(v6)
    if v4 is not None and (v4 != "0.0.0.0" or v6 in (None, "::")):
        return v4
    return v6 if v6 is not None else v4


_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def flow_row(number: int, decoded: dict, **values) -> dict:
    values["counts_scaled"] = False  # an exporter's counts are never scaled by a collector
    values["line_number"] = number
    values["raw"] = json.dumps(decoded, default=str, sort_keys=True)
    for k in ("tcp_flags", "in_if", "out_if", "src_as", "dst_as", "sampling_rate"):
        if isinstance(values.get(k), bytes):
            values[k] = int.from_bytes(values[k], "big")
    for k, v in values.items():
        # a damaged or hostile counter (an unsigned 64-bit field past 2^63) fits no column: the
        # record is a type_error, never an exception that loses the rest of the file
        if isinstance(v, int) and not isinstance(v, bool) and not _I64_MIN <= v <= _I64_MAX:
            return {
                "line_number": number,
                "raw": values["raw"],
                "problem": "type_error",
                "problem_detail": f"{k} {v} does not fit a signed 64-bit integer",
            }
    return values
