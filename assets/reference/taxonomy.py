"""The service taxonomy (taxonomy.yaml): services, categories and their rule tables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from assets.core.addresses import cidr_range, flatten_ranges, range_table
from assets.core.vocabulary import UNKNOWN_CATEGORY, UNKNOWN_SERVICE
from assets.reference.files import (
    ReferenceDataError,
    file_sha256,
    normalise_domain,
    read_yaml,
    str_list,
)

__all__ = ["TAXONOMY_PATH", "UNKNOWN_CATEGORY", "UNKNOWN_SERVICE", "load_taxonomy"]

TAXONOMY_PATH = Path(__file__).resolve().parent / "taxonomy.yaml"
_PROTOS = ("tcp", "udp", "icmp")
_PORT_RE = re.compile(r"^(tcp|udp|icmp)/(\d{1,5})(?:-(\d{1,5}))?$")
_ASN_RE = re.compile(r"^AS(\d{1,10})(?:\s+(\S.*))?$")
_DOMAIN_RE = re.compile(r"^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9-]{1,63}$")


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    category: str
    domains: tuple[str, ...] = ()
    ip_prefixes: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    sni_patterns: tuple[str, ...] = ()
    asns: tuple[tuple[int, str | None], ...] = ()  # (number, AS organisation as sources spell it)
    cert_orgs: tuple[str, ...] = ()
    provider: bool = False  # cloud/CDN/hosting: names itself, never the services it hosts


@dataclass(frozen=True)
class Taxonomy:
    """Services plus the precomputed rule tables the classifier joins against.

    - ``services``: service_id, service (display name), category
    - ``domain_rules``: suffix, service_id (each suffix belongs to one service)
    - ``ip_rules``: ip_first, ip_last (UInt128), service_id; disjoint, longest prefix won
    - ``port_rules``: proto, port (Int32), service_id; narrowest range won
    - ``sni_rules``: service_id, pattern, ports (list of "proto/port" the service owns)
    - ``asn_rules``: remote_asn (UInt32), service_id; ``asn_numbers``: AS organisation ->
      number (fills numbers an organisation-only ASN source lacks)
    - ``cert_org_rules``: cert_org (lower case), service_id (never a provider's)
    - ``provider_domains``: suffix rules of providers (a certificate named under them is a
      shared CDN/cloud certificate, no hint of whose site it serves)
    - ``sha256``: content hash of the file
    """

    version: str
    categories: tuple[str, ...]
    service_list: tuple[Service, ...]
    services: pl.DataFrame
    domain_rules: pl.DataFrame
    ip_rules: pl.DataFrame
    port_rules: pl.DataFrame
    sni_rules: pl.DataFrame
    asn_rules: pl.DataFrame = field(default_factory=pl.DataFrame)
    asn_numbers: dict[str, int] = field(default_factory=dict)
    cert_org_rules: pl.DataFrame = field(default_factory=pl.DataFrame)
    provider_domains: pl.DataFrame = field(default_factory=pl.DataFrame)
    sha256: str = ""
    provider_ids: frozenset[str] = frozenset()

    def service(self, service_id: str) -> Service:
        for s in self.service_list:
            if s.id == service_id:
                return s
        raise KeyError(service_id)


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


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read and validate taxonomy.yaml; precompute the domain, IP-prefix and port tables."""
    path = Path(path or TAXONOMY_PATH)
    data = read_yaml(path)
    for key in ("version", "categories", "services"):
        if key not in data:
            raise ReferenceDataError(f"{path}: missing top-level `{key}`")
    categories = str_list(path, "top level", data["categories"], "categories")
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
    asn_owner: dict[int, str] = {}
    org_number: dict[str, int] = {}
    cert_owner: dict[str, str] = {}
    allowed = {
        "id",
        "name",
        "category",
        "domains",
        "ip_prefixes",
        "ports",
        "sni_patterns",
        "asns",
        "cert_orgs",
        "provider",
    }

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
        doms = str_list(path, where, s.get("domains"), "domains")
        cidrs = str_list(path, where, s.get("ip_prefixes"), "ip_prefixes")
        prts = str_list(path, where, s.get("ports"), "ports")
        pats = str_list(path, where, s.get("sni_patterns"), "sni_patterns")
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
        provider = s.get("provider", False)
        if not isinstance(provider, bool):
            raise ReferenceDataError(f"{path}: {where}: `provider` must be true or false")
        asns = _parse_asns(path, where, s.get("asns"))
        for number, org in asns:
            if number in asn_owner:
                raise ReferenceDataError(
                    f"{path}: {where}: AS{number} already belongs to {asn_owner[number]!r}"
                )
            asn_owner[number] = sid
            if org is not None:
                if org_number.get(org, number) != number:
                    raise ReferenceDataError(
                        f"{path}: {where}: AS organisation {org!r} is already AS{org_number[org]}"
                    )
                org_number[org] = number
        orgs = str_list(path, where, s.get("cert_orgs"), "cert_orgs")
        if orgs and provider:
            raise ReferenceDataError(
                f"{path}: {where}: a provider's certificates serve other people's sites: "
                "`cert_orgs` is not allowed with `provider: true`"
            )
        for o in orgs:
            key = o.strip().lower()
            if not key or key in cert_owner:
                raise ReferenceDataError(
                    f"{path}: {where}: cert org {o!r} is empty or already belongs to "
                    f"{cert_owner.get(key)!r}"
                )
            cert_owner[key] = sid
        services.append(
            Service(sid, name, cat, tuple(norm_doms), cidrs, prts, pats, asns, orgs, provider)
        )

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
    provider_ids = {s.id for s in services if s.provider}
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
        asn_rules=pl.DataFrame(
            {"remote_asn": list(asn_owner), "service_id": list(asn_owner.values())},
            schema={"remote_asn": pl.UInt32, "service_id": pl.String},
        ),
        asn_numbers=org_number,
        cert_org_rules=pl.DataFrame(
            {"cert_org": list(cert_owner), "service_id": list(cert_owner.values())},
            schema={"cert_org": pl.String, "service_id": pl.String},
        ),
        provider_domains=domain_rules.filter(pl.col("service_id").is_in(list(provider_ids))),
        sha256=file_sha256(path),
        provider_ids=frozenset(provider_ids),
    )


def _parse_asns(path: Path, where: str, value: object) -> tuple[tuple[int, str | None], ...]:
    """``["AS16509 AMAZON-02", "AS14618"]`` -> ((16509, "AMAZON-02"), (14618, None))."""
    out = []
    for text in str_list(path, where, value, "asns"):
        m = _ASN_RE.match(text.strip())
        if not m or not 0 < int(m.group(1)) < 2**32:
            raise ReferenceDataError(
                f"{path}: {where}: bad AS rule {text!r} (expected e.g. 'AS16509 AMAZON-02')"
            )
        out.append((int(m.group(1)), m.group(2).strip() if m.group(2) else None))
    return tuple(out)


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
