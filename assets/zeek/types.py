"""Zeek types -> polars types, and the vectorised text -> value conversions."""

from __future__ import annotations

import polars as pl

TIME = pl.Datetime("us", "UTC")
_SCALARS: dict[str, pl.DataType] = {
    "time": TIME,
    "interval": pl.Float64(),
    "double": pl.Float64(),
    "count": pl.Int64(),
    "int": pl.Int64(),
    "port": pl.Int32(),
    "bool": pl.Boolean(),
}
_CONTAINERS = ("set[", "vector[", "table[")
_TRUE, _FALSE = ["T", "true"], ["F", "false"]

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_V4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H = "[0-9a-fA-F]{1,4}"
_V6 = "|".join(
    [
        f"(?:{_H}:){{7}}{_H}",
        f"(?:{_H}:){{1,7}}:",
        f"(?:{_H}:){{1,6}}:{_H}",
        f"(?:{_H}:){{1,5}}(?::{_H}){{1,2}}",
        f"(?:{_H}:){{1,4}}(?::{_H}){{1,3}}",
        f"(?:{_H}:){{1,3}}(?::{_H}){{1,4}}",
        f"(?:{_H}:){{1,2}}(?::{_H}){{1,5}}",
        f"{_H}:(?::{_H}){{1,6}}",
        f":(?:(?::{_H}){{1,7}}|:)",
        f"(?:{_H}:){{6}}{_V4}",
        f"(?:{_H}:){{1,5}}:{_V4}",
        f"::(?:[fF]{{4}}(?::0{{1,4}})?:)?{_V4}",
    ]
)
IP_PATTERN = f"^(?:{_V4}|{_V6})$"


def is_container(zeek_type: str) -> bool:
    return zeek_type.startswith(_CONTAINERS)


def inner_type(zeek_type: str) -> str:
    return zeek_type[zeek_type.index("[") + 1 : -1] if is_container(zeek_type) else zeek_type


def polars_dtype(zeek_type: str) -> pl.DataType:
    """`count` -> Int64, `vector[interval]` -> List(Float64), `addr`/`string`/`enum` -> String."""
    if is_container(zeek_type):
        return pl.List(polars_dtype(inner_type(zeek_type)))
    return _SCALARS.get(zeek_type, pl.String())


def scalar_value(text: pl.Expr, zeek_type: str) -> pl.Expr:
    """Typed value of present (not unset) text; null where it does not convert."""
    match zeek_type:
        case "time":
            return epoch_to_time(text)
        case "bool":
            true, false = text.is_in(_TRUE), text.is_in(_FALSE)
            return pl.when(true).then(True).when(false).then(False).otherwise(None)
        case _ if zeek_type in _SCALARS:
            return text.cast(_SCALARS[zeek_type], strict=False)
        case _:
            return text


# Timestamps hermit accepts: the Unix epoch up to the end of year 9999 (what every reader of
# the Parquet files, and polars' calendar arithmetic, can represent).
MAX_EPOCH_SECONDS = 253_402_300_800.0


def epoch_to_time(text: pl.Expr) -> pl.Expr:
    """Epoch seconds -> time; null (a type_error) for text that is not a number, and for NaN,
    infinities and instants outside MAX_EPOCH_SECONDS, so no value can make the cast raise."""
    # Float64 epoch seconds carry 6 decimals exactly enough for rounding to the microsecond
    seconds = text.cast(pl.Float64, strict=False)
    sound = seconds.is_finite() & (seconds >= 0) & (seconds < MAX_EPOCH_SECONDS)
    return pl.when(sound).then(seconds * 1e6).round().cast(pl.Int64, strict=False).cast(TIME)


def iso_to_time(text: pl.Expr) -> pl.Expr:
    """ISO 8601 text (Zeek JSON with ISO timestamps), e.g. `2024-04-19T00:00:01.5Z`."""
    return pl.coalesce(
        text.str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us", time_zone="UTC", strict=False
        ),
        text.str.to_datetime(time_unit="us", time_zone="UTC", strict=False),
    )


def out_of_range(value: pl.Expr, zeek_type: str) -> pl.Expr | None:
    """Values that convert but are not valid for the type (ports beyond 65535)."""
    if zeek_type == "port":
        return (value < 0) | (value > 65535)
    return None


def is_ip(text: pl.Expr) -> pl.Expr:
    return text.str.contains(IP_PATTERN)
