"""Load and validate the reference data: monitored networks, service taxonomy, geo table.

``load_reference()`` builds everything once (rule tables precomputed as polars frames)
so one ``Reference`` can categorise many days.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
import yaml

from assets.ipdata.addresses import cidr_range, flatten_ranges, range_table

REFERENCE_DIR = Path(__file__).resolve().parent
NETWORKS_PATH = REFERENCE_DIR / "networks.yaml"
TAXONOMY_PATH = REFERENCE_DIR / "taxonomy.yaml"
GEOIP_ENV = "HERMIT_GEOIP_MMDB"

UNKNOWN_SERVICE = "Unknown"
UNKNOWN_CATEGORY = "unknown"
_PROTOS = ("tcp", "udp", "icmp")
_PORT_RE = re.compile(r"^(tcp|udp|icmp)/(\d{1,5})(?:-(\d{1,5}))?$")
_DOMAIN_RE = re.compile(r"^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9-]{1,63}$")


class ReferenceDataError(ValueError):
    """A reference data file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Network:
    cidr: str
    label: str
    owner: str
    timezone: str
    ip_first: int
    ip_last: int
    prefixlen: int


@dataclass(frozen=True)
class Networks:
    """Monitored networks, most specific prefix first (so nested blocks win).

    ``default_timezone`` (the first listed network's zone) dates rows with no monitored
    side (transit).
    """

    networks: tuple[Network, ...]
    default_timezone: str

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [(n.cidr, n.label, n.owner, n.timezone) for n in self.networks],
            schema=["cidr", "label", "owner", "timezone"],
            orient="row",
        )


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    category: str
    domains: tuple[str, ...] = ()
    ip_prefixes: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    sni_patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Taxonomy:
    """Services plus the precomputed rule tables the classifier joins against.

    - ``services``: service_id, service (display name), category
    - ``domain_rules``: suffix, service_id (each suffix belongs to one service)
    - ``ip_rules``: ip_first, ip_last (UInt128), service_id; disjoint, longest prefix won
    - ``port_rules``: proto, port (Int32), service_id; narrowest range won
    - ``sni_rules``: service_id, pattern, ports (list of "proto/port" the service owns)
    """

    version: str
    categories: tuple[str, ...]
    service_list: tuple[Service, ...]
    services: pl.DataFrame
    domain_rules: pl.DataFrame
    ip_rules: pl.DataFrame
    port_rules: pl.DataFrame
    sni_rules: pl.DataFrame

    def service(self, service_id: str) -> Service:
        for s in self.service_list:
            if s.id == service_id:
                return s
        raise KeyError(service_id)


@dataclass(frozen=True)
class Reference:
    """Everything categorisation needs; build once with ``load_reference`` and reuse."""

    networks: Networks
    taxonomy: Taxonomy
    geo: pl.DataFrame  # ip_first, ip_last (UInt128), country (ISO alpha-2); disjoint, sorted
    geo_source: str = ""


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ReferenceDataError(f"{path}: file not found") from e
    except yaml.YAMLError as e:
        raise ReferenceDataError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ReferenceDataError(f"{path}: expected a mapping at the top level")
    return data


def _str_list(path: Path, where: str, value: object, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReferenceDataError(f"{path}: {where}: `{key}` must be a list of strings")
    return tuple(value)


def load_networks(path: str | Path | None = None) -> Networks:
    """Read networks.yaml (``networks: [{cidr, label, owner, timezone}]``, or a bare list)."""
    path = Path(path or NETWORKS_PATH)
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) if Path(path).exists() else None
    if raw is None:
        raise ReferenceDataError(f"{path}: file not found or empty")
    entries = raw.get("networks") if isinstance(raw, dict) else raw
    if not isinstance(entries, list) or not entries:
        raise ReferenceDataError(f"{path}: expected a non-empty list of networks")
    out = []
    seen: set[str] = set()
    for i, e in enumerate(entries):
        where = f"networks[{i}]"
        if not isinstance(e, dict):
            raise ReferenceDataError(f"{path}: {where}: expected a mapping")
        missing = [k for k in ("cidr", "label", "timezone") if not e.get(k)]
        if missing:
            raise ReferenceDataError(f"{path}: {where}: missing {', '.join(missing)}")
        try:
            first, last, plen, _ = cidr_range(str(e["cidr"]))
        except ValueError as err:
            raise ReferenceDataError(f"{path}: {where}: bad cidr {e['cidr']!r}: {err}") from err
        try:
            ZoneInfo(str(e["timezone"]))
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ReferenceDataError(
                f"{path}: {where}: unknown IANA time zone {e['timezone']!r}"
            ) from err
        if e["cidr"] in seen:
            raise ReferenceDataError(f"{path}: {where}: duplicate cidr {e['cidr']}")
        seen.add(e["cidr"])
        out.append(
            Network(
                str(e["cidr"]),
                str(e["label"]),
                str(e.get("owner") or ""),
                str(e["timezone"]),
                first,
                last,
                plen,
            )
        )
    ordered = tuple(sorted(out, key=lambda n: -n.prefixlen))
    return Networks(ordered, default_timezone=out[0].timezone)


def _parse_port(path: Path, where: str, text: str) -> tuple[str, int, int]:
    m = _PORT_RE.match(text.strip().lower())
    if not m:
        raise ReferenceDataError(
            f"{path}: {where}: bad port rule {text!r} (expected e.g. tcp/8333 or udp/6881-6889)"
        )
    lo = int(m.group(2))
    hi = int(m.group(3) or lo)
    if not 0 <= lo <= hi <= 65535:
        raise ReferenceDataError(f"{path}: {where}: bad port range {text!r}")
    return m.group(1), lo, hi


def normalise_domain(text: str) -> str:
    return text.strip().lower().rstrip(".").encode("idna").decode("ascii")


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read and validate taxonomy.yaml; precompute the domain, IP-prefix and port tables."""
    path = Path(path or TAXONOMY_PATH)
    data = _read_yaml(path)
    for key in ("version", "categories", "services"):
        if key not in data:
            raise ReferenceDataError(f"{path}: missing top-level `{key}`")
    categories = _str_list(path, "top level", data["categories"], "categories")
    if UNKNOWN_CATEGORY not in categories:
        raise ReferenceDataError(f"{path}: categories must include `{UNKNOWN_CATEGORY}`")
    if not isinstance(data["services"], list):
        raise ReferenceDataError(f"{path}: `services` must be a list")

    services: list[Service] = []
    ids: set[str] = set()
    names: set[str] = set()
    domain_owner: dict[str, str] = {}
    prefixes: list[tuple[int, int, int, str]] = []
    prefix_owner: dict[tuple[int, int], str] = {}
    ports: list[tuple[str, int, int, int, str]] = []  # proto, lo, hi, order, id
    sni_rows: list[tuple[str, str, list[str]]] = []
    allowed = {"id", "name", "category", "domains", "ip_prefixes", "ports", "sni_patterns"}

    for i, s in enumerate(data["services"]):
        where = f"services[{i}]"
        if not isinstance(s, dict):
            raise ReferenceDataError(f"{path}: {where}: expected a mapping")
        if unknown := set(s) - allowed:
            raise ReferenceDataError(f"{path}: {where}: unknown keys {sorted(unknown)}")
        for k in ("id", "name", "category"):
            if not isinstance(s.get(k), str) or not s[k].strip():
                raise ReferenceDataError(f"{path}: {where}: `{k}` must be a non-empty string")
        sid, name, cat = s["id"], s["name"], s["category"]
        where = f"service {sid!r}"
        if sid in ids:
            raise ReferenceDataError(f"{path}: {where}: duplicate id")
        if name in names or name == UNKNOWN_SERVICE:
            raise ReferenceDataError(f"{path}: {where}: duplicate or reserved name {name!r}")
        if cat not in categories:
            raise ReferenceDataError(f"{path}: {where}: category {cat!r} not in `categories`")
        ids.add(sid)
        names.add(name)
        doms = _str_list(path, where, s.get("domains"), "domains")
        cidrs = _str_list(path, where, s.get("ip_prefixes"), "ip_prefixes")
        prts = _str_list(path, where, s.get("ports"), "ports")
        pats = _str_list(path, where, s.get("sni_patterns"), "sni_patterns")
        norm_doms = []
        for d in doms:
            nd = normalise_domain(d)
            if not _DOMAIN_RE.match(nd):
                raise ReferenceDataError(f"{path}: {where}: bad domain suffix {d!r}")
            if nd in domain_owner:
                raise ReferenceDataError(
                    f"{path}: {where}: domain {nd!r} already belongs to {domain_owner[nd]!r}"
                )
            domain_owner[nd] = sid
            norm_doms.append(nd)
        for c in cidrs:
            try:
                first, last, plen, _ = cidr_range(c)
            except ValueError as err:
                raise ReferenceDataError(f"{path}: {where}: bad ip prefix {c!r}: {err}") from err
            if (first, last) in prefix_owner:
                raise ReferenceDataError(
                    f"{path}: {where}: prefix {c} already belongs to {prefix_owner[first, last]!r}"
                )
            prefix_owner[first, last] = sid
            prefixes.append((first, last, plen, sid))
        for p in prts:
            proto, lo, hi = _parse_port(path, where, p)
            ports.append((proto, lo, hi, i, sid))
        for pat in pats:
            try:
                re.compile(pat)
            except re.error as err:
                raise ReferenceDataError(
                    f"{path}: {where}: bad sni pattern {pat!r}: {err}"
                ) from err
            sni_rows.append((sid, pat, [p.strip().lower() for p in prts]))
        services.append(Service(sid, name, cat, tuple(norm_doms), cidrs, prts, pats))

    services_frame = pl.DataFrame(
        {
            "service_id": [s.id for s in services],
            "service": [s.name for s in services],
            "category": [s.category for s in services],
        }
    )
    domain_rules = pl.DataFrame(
        {"suffix": list(domain_owner), "service_id": list(domain_owner.values())},
        schema={"suffix": pl.String, "service_id": pl.String},
    )
    ip_rules = range_table(flatten_ranges(prefixes), "service_id").with_columns(
        pl.col("service_id").cast(pl.String)
    )
    return Taxonomy(
        version=str(data["version"]),
        categories=categories,
        service_list=tuple(services),
        services=services_frame,
        domain_rules=domain_rules,
        ip_rules=ip_rules,
        port_rules=_port_table(path, ports),
        sni_rules=pl.DataFrame(
            sni_rows,
            schema={"service_id": pl.String, "pattern": pl.String, "ports": pl.List(pl.String)},
            orient="row",
        ),
    )


def _port_table(path: Path, ports: list[tuple[str, int, int, int, str]]) -> pl.DataFrame:
    """Expand port ranges; the narrowest range wins, equal-width overlaps are an error."""
    rules = pl.DataFrame(
        ports,
        schema={
            "proto": pl.String,
            "lo": pl.Int32,
            "hi": pl.Int32,
            "order": pl.Int32,
            "service_id": pl.String,
        },
        orient="row",
    )
    expanded = (
        rules.with_columns(port=pl.int_ranges("lo", pl.col("hi") + 1, dtype=pl.Int32))
        .explode("port")
        .with_columns(width=pl.col("hi") - pl.col("lo"))
    )
    clash = (
        expanded.group_by("proto", "port", "width")
        .agg(pl.col("service_id").unique())
        .filter(pl.col("service_id").list.len() > 1)
    )
    if clash.height:
        row = clash.row(0, named=True)
        raise ReferenceDataError(
            f"{path}: port {row['proto']}/{row['port']} is claimed by {sorted(row['service_id'])}"
        )
    return (
        expanded.sort("width", "order")
        .unique(subset=["proto", "port"], keep="first", maintain_order=True)
        .select("proto", "port", "service_id")
        .sort("proto", "port")
    )


def load_reference(
    networks_path: str | Path | None = None,
    taxonomy_path: str | Path | None = None,
    geoip_mmdb: str | None = None,
) -> Reference:
    """Networks + taxonomy (repo files by default) + IP->country table.

    The country table comes from geoip2fast's bundled data unless ``geoip_mmdb`` (or env
    ``HERMIT_GEOIP_MMDB``) names a MaxMind-format database.
    """
    from assets.ipdata import geo

    mmdb = geoip_mmdb or os.environ.get(GEOIP_ENV) or None
    if mmdb:
        table, source = geo.mmdb_table(mmdb), f"mmdb:{mmdb}"
    else:
        table, source = geo.geoip2fast_table(), "geoip2fast"
    return Reference(
        networks=load_networks(networks_path),
        taxonomy=load_taxonomy(taxonomy_path),
        geo=table,
        geo_source=source,
    )
