"""Zeek TSV header directives (`#separator`, `#fields`, ...) and where header lines are."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from assets.zeek.escapes import decode_text


@dataclass(frozen=True)
class Header:
    """The header state in force for the data lines that follow it."""

    separator: str = "\t"
    set_separator: str = ","
    empty_field: str = "(empty)"
    unset_field: str = "-"
    path: str | None = None
    fields: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    comments: tuple[str, ...] = field(default=(), compare=False)

    def field_types(self) -> dict[str, str]:
        """Field -> declared Zeek type (`string` when #types is missing or does not match)."""
        if len(self.types) == len(self.fields):
            return dict(zip(self.fields, self.types, strict=True))
        return dict.fromkeys(self.fields, "string")


def header_lines(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte offsets of every line starting with `#` (end excludes the newline).

    Scans with single-byte bytes.find (memchr speed); data lines are never touched in Python.
    """
    spans: list[tuple[int, int]] = []
    pos = data.find(b"#")
    while pos >= 0:
        if pos == 0 or data[pos - 1] == 0x0A:
            end = data.find(b"\n", pos)
            end = len(data) if end < 0 else end
            spans.append((pos, end))
            pos = data.find(b"#", end)
        else:
            pos = data.find(b"#", pos + 1)
    return spans


def apply_directive(header: Header, line: str) -> Header:
    """The header state after one `#...` line; unknown directives are kept as comments."""
    if line.startswith("#separator"):
        # written as "#separator \x09": the value itself is escaped
        value = line[len("#separator") :].lstrip(" \t")
        return replace(header, separator=decode_text(value) or "\t")
    name, _, rest = line.partition(header.separator)
    values = rest.split(header.separator) if rest else []
    first = decode_text(values[0]) if values else ""
    match name:
        case "#set_separator":
            return replace(header, set_separator=first or ",")
        case "#empty_field":
            return replace(header, empty_field=first)
        case "#unset_field":
            return replace(header, unset_field=first)
        case "#path":
            return replace(header, path=first or None)
        case "#fields":
            return replace(header, fields=tuple(values), types=())
        case "#types":
            return replace(header, types=tuple(values))
        case "#open" | "#close":
            return header
        case _:
            return replace(header, comments=(*header.comments, line))
