"""Typed conversion of a Segment's field text into a table's columns, with per-record checks.

`convert` gives every record its typed columns plus `__reason` (null for a sound record):
type_error > missing_field > bad_ip > negative_count. It runs as one polars query over the
whole segment; `explain` builds the human-readable detail for the few flagged records only.
Fields the table does not know go to `extra` (a JSON object of their text values).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from assets.zeek import types as zt
from assets.zeek.escapes import decode_series, decode_text
from assets.zeek.names import NODE_NAME_FIELD, column_name
from assets.zeek.records import LINE, RAW, Segment

REASON = "__reason"
_R = "r:"  # prefix of the verbatim field columns while converting
_X = "x:"  # prefix of extra-field text columns


@dataclass(frozen=True)
class _Field:
    name: str  # Zeek field name
    column: str  # output column
    zeek_type: str
    present_in_segment: bool

    @property
    def raw(self) -> pl.Expr:
        return pl.col(_R + self.name)


@dataclass(frozen=True)
class _Check:
    reason: str
    field: _Field
    flag: pl.Expr  # true where the record fails
    message: str
    leaves_null: bool = False  # failing records always have a null typed value

    def may_fail(self, typed: pl.DataFrame) -> bool:
        # a null count is free: a column without nulls cannot fail a null-leaving check
        if self.leaves_null and self.field.present_in_segment:
            return typed[self.field.column].null_count() > 0
        return True


def convert(seg: Segment, fields: dict[str, str], required: tuple[str, ...] = ()) -> pl.DataFrame:
    """Typed columns of `fields` (Zeek name -> type) + node_name, extra, LINE and REASON."""
    plan = _Plan(seg, fields, required)
    typed = plan.typed(seg.frame)
    # Most records are sound: first find which checks fail anywhere (column aggregates, and
    # a null count is free), then build the per-record reason from those checks only.
    checks = [c for c in plan.checks() if c.may_fail(typed)]
    if checks:
        hits = typed.select(
            [c.flag.fill_null(False).any().alias(str(i)) for i, c in enumerate(checks)]
        ).row(0)
        checks = [c for c, hit in zip(checks, hits, strict=True) if hit]
    return typed.with_columns(_reason(checks).alias(REASON)).drop(plan.raw_columns)


def explain(
    seg: Segment, lines: pl.Series, fields: dict[str, str], required: tuple[str, ...] = ()
) -> pl.DataFrame:
    """LINE, detail and raw text of the given (flagged) lines of the segment."""
    rows = seg.frame.filter(pl.col(LINE).is_in(lines.implode()))
    plan = _Plan(seg, fields, required)
    typed = plan.typed(rows)
    # with_columns: a detail without any check is a literal, broadcast to every row
    detail = typed.with_columns(plan.detail()).get_column("detail")
    return pl.DataFrame({LINE: rows[LINE], "detail": detail, "raw": seg.raw_text(rows)})


class _Plan:
    def __init__(self, seg: Segment, fields: dict[str, str], required: tuple[str, ...]):
        self.seg = seg
        present = set(seg.fields)
        self.fields = [_Field(f, column_name(f), t, f in present) for f, t in fields.items()]
        self.required = set(required)
        known = set(fields) | {NODE_NAME_FIELD}
        self.extra = [f for f in seg.fields if f not in known]
        self.raw_columns = [_R + f for f in seg.fields]
        self.is_json = seg.unset is None

    # --- typed values -------------------------------------------------------------
    def typed(self, frame: pl.DataFrame) -> pl.DataFrame:
        frame = frame.rename({f: _R + f for f in self.seg.fields})
        exprs = [self._value(f).alias(f.column) for f in self.fields]
        exprs.append(self._text_of(NODE_NAME_FIELD, "string").alias("node_name"))
        exprs += [self._text_of(f, self._declared(f)).alias(_X + f) for f in self.extra]
        out = frame.lazy().with_columns(exprs).collect()
        ts = next((f for f in self.fields if f.zeek_type == "time" and f.present_in_segment), None)
        if (
            ts is not None
            and self.seg.frame.schema[ts.name] == pl.String  # a number cannot be ISO text
            and out[ts.column].null_count() > 0
            and out.select((pl.col(ts.column).is_null() & self._present(ts)).any()).item()
        ):
            out = out.with_columns(pl.coalesce(ts.column, zt.iso_to_time(ts.raw)).alias(ts.column))
        if self.seg.escaped:
            out = self._decode_escapes(out)
        return out.with_columns(self._extra_json()).drop([_X + f for f in self.extra])

    def _declared(self, field: str) -> str:
        if self.is_json:
            dtype = self.seg.frame.schema[field]
            return "vector[string]" if isinstance(dtype, pl.List) else "string"
        return self.seg.types.get(field, "string")

    def _present(self, f: _Field) -> pl.Expr:
        if not f.present_in_segment:
            return pl.lit(False)
        if self.is_json or self.seg.frame.schema[f.name] != pl.String:
            return f.raw.is_not_null()  # absent JSON key, or unset number parsed as null
        return f.raw != self.seg.unset

    def _value(self, f: _Field) -> pl.Expr:
        dtype = zt.polars_dtype(f.zeek_type)
        if not f.present_in_segment:
            return pl.lit(None, dtype=dtype)
        source = self.seg.frame.schema[f.name]
        if zt.is_container(f.zeek_type):
            items = self._items(f.raw, self._raw_is_list(f.name))
            if source == dtype and self.is_json:
                return items
            inner = zt.inner_type(f.zeek_type)
            element = pl.element()
            if isinstance(source, pl.List) and source.inner != pl.String:
                element = element.cast(pl.String, strict=False)  # JSON numbers / booleans
            return items.list.eval(zt.scalar_value(element, inner))
        if source == dtype and (self.is_json or dtype != pl.String):
            return f.raw  # parsed by the reader already (JSON values, TSV numbers)
        if dtype == pl.String:
            return self._scalar_text(f.raw.cast(pl.String, strict=False))
        raw = f.raw
        if isinstance(source, pl.List) or (source == pl.Boolean) != (dtype == pl.Boolean):
            raw = raw.cast(pl.String, strict=False)
        return zt.scalar_value(raw, f.zeek_type)

    def _raw_is_list(self, name: str) -> bool:
        return isinstance(self.seg.frame.schema.get(name), pl.List)

    def _scalar_text(self, raw: pl.Expr) -> pl.Expr:
        if self.is_json:
            return raw
        return (
            pl.when(raw == self.seg.unset)
            .then(None)
            .when(raw == self.seg.empty)
            .then(pl.lit(""))
            .otherwise(raw)
        )

    def _items(self, raw: pl.Expr, raw_is_list: bool) -> pl.Expr:
        if self.is_json:
            if raw_is_list:
                return raw
            return pl.when(raw.is_not_null()).then(pl.concat_list(raw.cast(pl.String)))
        return (
            pl.when(raw == self.seg.unset)
            .then(None)
            .when(raw == self.seg.empty)
            .then(pl.lit([], dtype=pl.List(pl.String)))
            .otherwise(raw.str.split(self.seg.set_separator or ","))
        )

    def _text_of(self, name: str, zeek_type: str) -> pl.Expr:
        """Text (or list of texts) of a field that is kept without type conversion."""
        if name not in self.seg.fields:
            return pl.lit(None, dtype=pl.String)
        raw = pl.col(_R + name)
        if zt.is_container(zeek_type):
            return self._items(raw, self._raw_is_list(name))
        if self.is_json and self._raw_is_list(name):
            return raw
        return self._scalar_text(raw)

    def _decode_escapes(self, out: pl.DataFrame) -> pl.DataFrame:
        decoded = []
        for name, dtype in out.schema.items():
            if name.startswith(_R) or name in (LINE, RAW):
                continue
            if dtype == pl.String:
                decoded.append(decode_series(out[name]))
            elif dtype == pl.List(pl.String):
                decoded.append(_decode_list(out[name]))
        return out.with_columns(decoded)

    def _extra_json(self) -> pl.Expr:
        if not self.extra:
            return pl.lit(None, dtype=pl.String).alias("extra")
        parts = []
        for f in self.extra:
            v = pl.col(_X + f)
            member = pl.struct(v.alias(f)).struct.json_encode().str.slice(1).str.strip_suffix("}")
            parts.append(pl.when(v.is_not_null()).then(member))
        body = pl.concat_str(parts, separator=",", ignore_nulls=True)
        return (
            pl.when(body != "").then(pl.concat_str(pl.lit("{"), body, pl.lit("}"))).alias("extra")
        )

    # --- checks -------------------------------------------------------------------
    def checks(self) -> list[_Check]:
        """(reason, field, flag, message) for every check of every field."""
        checks = []
        for f in self.fields:
            present = self._present(f)
            value = pl.col(f.column)
            if f.name in self.required:
                checks.append(_Check("missing_field", f, ~present, "is missing or unset", True))
            if not f.present_in_segment:
                continue
            inner = zt.inner_type(f.zeek_type)
            if zt.is_container(f.zeek_type):
                if zt.polars_dtype(inner) != pl.String:
                    bad = value.list.eval(pl.element().is_null()).list.any()
                    checks.append(_Check("type_error", f, present & bad, f"is not a {f.zeek_type}"))
                continue
            if zt.polars_dtype(f.zeek_type) != pl.String:
                message = f"is not a {f.zeek_type}"
                checks.append(_Check("type_error", f, present & value.is_null(), message, True))
                rng = zt.out_of_range(value, f.zeek_type)
                if rng is not None:
                    checks.append(_Check("type_error", f, rng, message))
            if f.zeek_type == "count" or f.zeek_type == "port":
                checks.append(_Check("negative_count", f, value < 0, "is negative"))
            if f.zeek_type == "addr":
                checks.append(
                    _Check("bad_ip", f, present & ~zt.is_ip(value), "is not an IP address")
                )
        return checks

    def detail(self) -> pl.Expr:
        messages = []
        for check in self.checks():
            f, flag, message = check.field, check.flag, check.message
            shown = f.raw.cast(pl.String, strict=False) if f.present_in_segment else pl.lit("")
            if f.present_in_segment and self._raw_is_list(f.name):
                shown = f.raw.list.eval(pl.element().cast(pl.String)).list.join(",")
            text = pl.concat_str(pl.lit(f"{f.name} "), pl.lit("'"), shown, pl.lit(f"' {message}"))
            if message == "is missing or unset":
                text = pl.lit(f"{f.name} {message}")
            messages.append(pl.when(flag.fill_null(False)).then(text))
        if not messages:
            return pl.lit(None, dtype=pl.String).alias("detail")
        return pl.concat_str(messages, separator="; ", ignore_nulls=True).alias("detail")


def _reason(checks: list[_Check]) -> pl.Expr:
    """First failing check's reason, in order type_error > missing_field > bad_ip > negative."""
    expr: pl.Expr | None = None
    for reason in ("type_error", "missing_field", "bad_ip", "negative_count"):
        flags = [c.flag for c in checks if c.reason == reason]
        if not flags:
            continue
        hit = pl.any_horizontal(flags).fill_null(False)
        expr = (pl.when(hit) if expr is None else expr.when(hit)).then(pl.lit(reason))  # type: ignore[attr-defined]
    if expr is None:
        return pl.lit(None, dtype=pl.String)
    return expr.otherwise(pl.lit(None, dtype=pl.String))


def _decode_list(lists: pl.Series) -> pl.Series:
    items = lists.explode().drop_nulls()
    escaped = items.filter(items.str.contains("\\x", literal=True)).unique()
    if escaped.len() == 0:
        return lists
    mapping = {v: decode_text(v) for v in escaped.to_list()}
    return lists.list.eval(pl.element().replace(mapping))
