"""``hermit taxonomy check``: validate a taxonomy file and list its overlaps.

Loading is the validation (the loader rejects every malformed entry, naming it). Overlaps
are legal but worth a look: a suffix of one service nested under another's (the longer
wins), a prefix inside another service's prefix (the longer wins), a port range inside a
wider one (the narrower wins), and domains also claimed by the configured category lists
(the taxonomy wins).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from assets.reference.taxonomy import load_taxonomy


@dataclass
class CheckReport:
    path: str
    version: str
    sha256: str
    counts: dict[str, int]
    overlaps: list[tuple[str, str, str]] = field(default_factory=list)  # kind, inner, outer


def check_taxonomy(path: str | Path | None = None, lists=None) -> CheckReport:
    """Load (raising ``ReferenceDataError`` on a bad file) and list the overlaps."""
    t = load_taxonomy(path)
    overlaps: list[tuple[str, str, str]] = []
    owner = dict(t.domain_rules.iter_rows())
    for suffix, sid in sorted(owner.items()):
        labels = suffix.split(".")
        for i in range(1, len(labels) - 1 + 1):
            parent = ".".join(labels[i:])
            if parent in owner and owner[parent] != sid:
                overlaps.append(("domain", f"{suffix} ({sid})", f"{parent} ({owner[parent]})"))
                break
    nets = [(ipaddress.ip_network(c), s.id) for s in t.service_list for c in s.ip_prefixes]
    for net, sid in nets:
        for other, osid in nets:
            same = osid == sid or net == other or net.version != other.version
            if not same and net.subnet_of(other):  # type: ignore[arg-type]
                overlaps.append(("ip_prefix", f"{net} ({sid})", f"{other} ({osid})"))
    ports = [(s.id, p) for s in t.service_list for p in s.ports]
    spans = [(sid, p, *_span(p)) for sid, p in ports]
    for sid, p, proto, lo, hi in spans:
        for osid, op, oproto, olo, ohi in spans:
            if (
                osid != sid
                and proto == oproto
                and olo <= lo
                and hi <= ohi
                and (lo, hi) != (olo, ohi)
            ):
                overlaps.append(("port", f"{p} ({sid})", f"{op} ({osid})"))
    if lists is not None and lists.rules.height:
        both = lists.rules.join(t.domain_rules, on="suffix", how="inner")
        for suffix, cat, list_cat, sid in both.sort("suffix").iter_rows():
            overlaps.append(("category_list", f"{suffix} ({list_cat} -> {cat})", sid))
    counts = {
        "services": len(t.service_list),
        "providers": len(t.provider_ids),
        "domain_rules": t.domain_rules.height,
        "ip_prefixes": len(nets),
        "port_rules": len(ports),
        "asn_rules": t.asn_rules.height,
        "cert_org_rules": t.cert_org_rules.height,
        "categories_used": t.services.get_column("category").n_unique(),
    }
    return CheckReport(str(path or ""), t.version, t.sha256, counts, overlaps)


def _span(rule: str) -> tuple[str, int, int]:
    proto, _, ports = rule.strip().lower().partition("/")
    lo, _, hi = ports.partition("-")
    return proto, int(lo), int(hi or lo)


def overlaps_frame(report: CheckReport) -> pl.DataFrame:
    return pl.DataFrame(report.overlaps, schema=["kind", "rule", "inside"], orient="row")
