"""Scenario and taxonomy loading: the YAML the simulator is driven by, validated up front."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from assets.simulate.suspect import SuspectPlan, SuspectPlanError, parse_suspect_plan

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"
SCENARIO_DIR = REFERENCE_DIR / "scenarios"
DEFAULT_SCENARIO = "nk2017"
TAXONOMY_PATH = REFERENCE_DIR / "taxonomy.yaml"

UNKNOWN_ID = "_unknown"
KINDS = ("named", "bare", "port")
TRANSPORTS = ("tls", "http", "dns_only")


# libyaml's loader when present: the taxonomy is large enough for the pure-Python one to show
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ScenarioError(ValueError):
    """The scenario (or the taxonomy it refers to) is not usable."""


@dataclass(frozen=True)
class PortRule:
    proto: str
    low: int
    high: int


@dataclass(frozen=True)
class TaxonomyService:
    id: str
    name: str
    category: str
    domains: tuple[str, ...]
    ip_prefixes: tuple[str, ...]
    ports: tuple[PortRule, ...]


@dataclass(frozen=True)
class Profile:
    transport: dict[str, float]
    dns_before: float
    bare_share: float
    duration: tuple[float, float]
    orig_bytes: tuple[float, float]
    resp_bytes: tuple[float, float]


@dataclass(frozen=True)
class ServicePlan:
    """One outbound service of the scenario, resolved against the taxonomy."""

    id: str
    name: str
    category: str
    weight: float
    kind_mix: dict[str, float]
    profile: Profile
    hosting: str
    domains: tuple[str, ...]
    ip_prefixes: tuple[str, ...]
    ports: tuple[PortRule, ...]
    hosting_owner: HostingOwner | None = None  # the real owner's address space


@dataclass(frozen=True)
class HostingOwner:
    """A service's real owner: the AS organisation (as the ASN data spells it) and its blocks."""

    owner: str
    asn: int | None
    orgs: tuple[str, ...]
    prefixes: tuple[str, ...]


@dataclass(frozen=True)
class Server:
    ip: str
    hostnames: tuple[str, ...]
    service: str | None


@dataclass(frozen=True)
class Network:
    cidr: str
    label: str
    users: int
    resolver: str
    servers: tuple[Server, ...]


@dataclass(frozen=True)
class Event:
    date: dt.date
    name: str
    activity: float = 1.0
    weights: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    timezone: str
    start: dt.date
    end: dt.date
    sessions_per_day: int
    networks: tuple[Network, ...]
    hourly_profile: tuple[float, ...]
    weekday_profile: tuple[float, ...]
    services: tuple[ServicePlan, ...]
    events: tuple[Event, ...]
    inbound_share: float
    inbound_scan_share: float
    inbound_countries: dict[str, float]
    peer_countries: dict[str, float]
    country_anchors: dict[str, tuple[str, ...]]
    long_connections_per_day: int
    long_connection_services: tuple[str, ...]
    taxonomy: dict[str, TaxonomyService]
    source: str
    suspect: SuspectPlan = SuspectPlan()  # planted scanners and beacons

    def service_index(self, service_id: str) -> int:
        return [s.id for s in self.services].index(service_id)

    def weights_on(self, day: dt.date) -> dict[str, float]:
        """Service weights in force on local date `day` (events apply from their date on)."""
        w = {s.id: s.weight for s in self.services}
        for ev in sorted(self.events, key=lambda e: e.date):
            if ev.date <= day:
                w.update(ev.weights)
        return w

    def activity_on(self, day: dt.date) -> float:
        a = 1.0
        for ev in self.events:
            if ev.date == day:
                a *= ev.activity
        return a


def parse_port_rule(text: str) -> PortRule:
    proto, _, ports = str(text).partition("/")
    lo, _, hi = ports.partition("-")
    if proto not in ("tcp", "udp") or not lo.isdigit() or (hi and not hi.isdigit()):
        raise ScenarioError(f"bad port rule {text!r} (expected tcp/N, udp/N-M)")
    return PortRule(proto, int(lo), int(hi or lo))


def load_taxonomy(path: str | Path | None = None) -> dict[str, TaxonomyService]:
    """Taxonomy services by id (plain YAML; see docs/architecture.md)."""
    path = Path(path) if path else TAXONOMY_PATH
    if not path.exists():
        raise ScenarioError(f"taxonomy not found: {path}")
    doc = yaml.load(path.read_text(), Loader=_Loader) or {}
    out: dict[str, TaxonomyService] = {}
    for s in doc.get("services") or []:
        out[s["id"]] = TaxonomyService(
            id=s["id"],
            name=s["name"],
            category=s["category"],
            domains=tuple(str(d).lower().strip(".") for d in s.get("domains") or ()),
            ip_prefixes=tuple(str(p) for p in s.get("ip_prefixes") or ()),
            ports=tuple(parse_port_rule(p) for p in s.get("ports") or ()),
        )
    return out


def scenario_path(scenario: str | Path | None) -> Path:
    if scenario is None:
        scenario = DEFAULT_SCENARIO
    p = Path(scenario)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    return SCENARIO_DIR / f"{scenario}.yaml"


def _beside(scenario: Path, name: str) -> Path:
    """A file a scenario names: next to it, else among the bundled scenarios."""
    p = scenario.parent / name
    return p if p.exists() or Path(name).is_absolute() else SCENARIO_DIR / name


def load_hosting(path: Path) -> dict[str, HostingOwner]:
    """Service id -> its owner's address space (a `service_hosting` file)."""
    if not path.exists():
        raise ScenarioError(f"service_hosting file not found: {path}")
    doc = yaml.load(path.read_text(), Loader=_Loader) or {}
    out = {}
    for sid, e in (doc.get("services") or {}).items():
        try:
            orgs = e["org"] if isinstance(e["org"], list) else [e["org"]]
            prefixes = tuple(str(p) for p in e["prefixes"])
            for p in prefixes:
                if ipaddress.ip_network(p).version != 4:
                    raise ValueError(f"{p} is not IPv4")
            asn = e.get("asn")
            out[sid] = HostingOwner(
                str(e["owner"]), int(asn) if asn is not None else None,
                tuple(str(o) for o in orgs), prefixes,
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise ScenarioError(f"{path.name}: service {sid}: {exc}") from None
        if not prefixes:
            raise ScenarioError(f"{path.name}: service {sid}: no prefixes")
    return out


def _profile(profiles: dict, category: str, override: dict) -> Profile:
    merged: dict = {}
    for part in (profiles.get("default") or {}, profiles.get(category) or {}, override):
        merged.update({k: v for k, v in part.items() if k in Profile.__dataclass_fields__})
    try:
        transport = {t: float(merged["transport"].get(t, 0.0)) for t in TRANSPORTS}
        prof = Profile(
            transport=transport,
            dns_before=float(merged["dns_before"]),
            bare_share=float(merged["bare_share"]),
            duration=tuple(float(x) for x in merged["duration"]),
            orig_bytes=tuple(float(x) for x in merged["orig_bytes"]),
            resp_bytes=tuple(float(x) for x in merged["resp_bytes"]),
        )
    except KeyError as exc:
        raise ScenarioError(f"profile for {category!r} lacks {exc}") from None
    if sum(transport.values()) <= 0:
        raise ScenarioError(f"profile for {category!r}: transport weights sum to 0")
    return prof


def _kind_mix(sid: str, spec: dict, tax: TaxonomyService, prof: Profile) -> dict[str, float]:
    kind = spec.get("kind")
    if kind is None:
        kind = "named" if tax.domains else ("port" if tax.ports else "bare")
    if kind not in KINDS:
        raise ScenarioError(f"service {sid}: kind must be one of {KINDS}")
    if kind == "named" and not tax.domains:
        raise ScenarioError(f"service {sid}: kind named but the taxonomy gives no domains")
    if kind == "port" and not tax.ports:
        raise ScenarioError(f"service {sid}: kind port but the taxonomy gives no ports")
    v4 = [p for p in tax.ip_prefixes if ":" not in p]
    if kind == "bare" and not v4:
        raise ScenarioError(f"service {sid}: kind bare but the taxonomy gives no ip_prefixes")
    mix = dict.fromkeys(KINDS, 0.0)
    if kind == "named" and v4:
        mix["bare"] = prof.bare_share
        mix["named"] = 1.0 - prof.bare_share
    else:
        mix[kind] = 1.0
    return mix


def load_scenario(
    scenario: str | Path | None = None, taxonomy: str | Path | None = None
) -> Scenario:
    """Read and validate a scenario (a name under reference/scenarios/, or a YAML path)."""
    path = scenario_path(scenario)
    if not path.exists():
        raise ScenarioError(f"scenario not found: {path}")
    doc = yaml.load(path.read_text(), Loader=_Loader)
    tax = load_taxonomy(taxonomy)
    profiles = doc.get("profiles") or {}
    hosting_file = doc.get("service_hosting")
    hosting = load_hosting(_beside(path, hosting_file)) if hosting_file else {}

    services: list[ServicePlan] = []
    unknown_domains = tuple(d.lower() for d in doc.get("unknown_domains") or ())
    for group, entries in (doc.get("categories") or {}).items():
        for sid, spec in (entries or {}).items():
            spec = spec if isinstance(spec, dict) else {"weight": spec}
            if sid == UNKNOWN_ID:
                t = TaxonomyService(UNKNOWN_ID, "Unknown", "unknown", unknown_domains, (), ())
            elif sid in tax:
                t = tax[sid]
            else:
                raise ScenarioError(f"service {sid!r} is not in the taxonomy")
            prof = _profile(profiles, t.category if t.category in profiles else group, spec)
            services.append(
                ServicePlan(
                    id=sid,
                    name=t.name,
                    category=t.category,
                    weight=float(spec.get("weight", 0.0)),
                    kind_mix=_kind_mix(sid, spec, t, prof),
                    profile=prof,
                    hosting=str(spec.get("hosting", "US")),
                    domains=t.domains,
                    # IPv4 only: the simulated networks and their peers are IPv4
                    ip_prefixes=tuple(p for p in t.ip_prefixes if ":" not in p),
                    ports=t.ports,
                    hosting_owner=hosting.get(sid),
                )
            )
    ids = [s.id for s in services]
    if hosting:
        for extra in sorted(set(hosting) - set(ids)):
            raise ScenarioError(f"{hosting_file}: {extra!r} is not a service of the scenario")
        for svc in services:
            # port-only services talk to peers, not to an owner; _unknown sites are invented
            if svc.id != UNKNOWN_ID and svc.kind_mix["port"] < 1.0 and svc.id not in hosting:
                raise ScenarioError(f"{hosting_file}: no owner address space for {svc.id!r}")
    if len(set(ids)) != len(ids):
        raise ScenarioError("a service appears twice in the scenario")
    _check_unknown_domains(unknown_domains, tax)

    networks = tuple(
        Network(
            cidr=n["cidr"],
            label=n["label"],
            users=int(n.get("users", 0)),
            resolver=n["resolver"],
            servers=_servers(n.get("servers"), tax),
        )
        for n in doc["networks"]
    )
    for n in networks:
        net = ipaddress.ip_network(n.cidr)
        for ip in [n.resolver, *(s.ip for s in n.servers)]:
            if ipaddress.ip_address(ip) not in net:
                raise ScenarioError(f"{ip} is not inside {n.cidr}")
    if sum(n.users for n in networks) <= 0:
        raise ScenarioError("no users in any network")

    events = tuple(
        Event(
            date=_date(e["date"]),
            name=e["name"],
            activity=float(e.get("activity", 1.0)),
            weights={k: float(v) for k, v in (e.get("weights") or {}).items()},
        )
        for e in doc.get("events") or ()
    )
    for ev in events:
        for sid in ev.weights:
            if sid not in ids:
                raise ScenarioError(f"event {ev.name!r} sets the weight of unknown {sid!r}")

    hourly = tuple(float(x) for x in doc["hourly_profile"])
    weekday = tuple(float(x) for x in doc["weekday_profile"])
    if len(hourly) != 24 or len(weekday) != 7 or min(hourly + weekday) < 0:
        raise ScenarioError("hourly_profile needs 24 and weekday_profile 7 non-negative values")
    inbound = doc.get("inbound") or {}
    anchors = {c: tuple(v) for c, v in (doc.get("country_anchors") or {}).items()}
    inbound_countries = {k: float(v) for k, v in (inbound.get("countries") or {}).items()}
    peer_countries = {k: float(v) for k, v in (doc.get("peer_countries") or {}).items()}
    needed = (
        set(inbound_countries)
        | set(peer_countries)
        | {s.hosting for s in services if not s.ip_prefixes}
    )
    missing = sorted(needed - set(anchors))
    if missing:
        raise ScenarioError(f"country_anchors lacks {missing}")
    long_services = tuple(doc.get("long_connection_services") or ())
    for sid in long_services:
        if sid not in ids:
            raise ScenarioError(f"long_connection_services: unknown {sid!r}")

    tcp_rules = [r for t in tax.values() for r in t.ports if r.proto == "tcp"]
    covered = {p for r in tcp_rules for p in range(r.low, r.high + 1)}
    try:
        suspect = parse_suspect_plan(
            doc.get("suspect"),
            networks=[n.label for n in networks],
            countries=set(anchors),
            covered_tcp_ports=covered,
        )
    except (SuspectPlanError, KeyError, TypeError) as exc:
        raise ScenarioError(f"suspect: {exc}") from None

    return Scenario(
        name=doc.get("name", path.stem),
        description=doc.get("description", ""),
        timezone=doc.get("timezone", "UTC"),
        start=_date(doc["start"]),
        end=_date(doc["end"]),
        sessions_per_day=int(doc.get("sessions_per_day", 3000)),
        networks=networks,
        hourly_profile=hourly,
        weekday_profile=weekday,
        services=tuple(services),
        events=events,
        inbound_share=float(inbound.get("share", 0.0)),
        inbound_scan_share=float(inbound.get("scan_share", 0.0)),
        inbound_countries=inbound_countries,
        peer_countries=peer_countries,
        country_anchors=anchors,
        long_connections_per_day=int(doc.get("long_connections_per_day", 0)),
        long_connection_services=long_services,
        taxonomy=tax,
        source=str(path),
        suspect=suspect,
    )


def suffix_owner(name: str, suffixes: dict[str, str]) -> str | None:
    """The service whose domain suffix is the longest match of `name` (the taxonomy rule)."""
    parts = name.split(".")
    for i in range(len(parts)):
        owner = suffixes.get(".".join(parts[i:]))
        if owner is not None:
            return owner
    return None


def _servers(entries, tax: dict[str, TaxonomyService]) -> tuple[Server, ...]:
    """Servers with the service their hostnames fall under (per the taxonomy's rule)."""
    suffixes = {d: sid for sid, t in tax.items() for d in t.domains}
    out = []
    for s in entries or ():
        hosts = tuple(s.get("hostnames") or ())
        owners = {suffix_owner(h, suffixes) for h in hosts}
        if len(owners) > 1:
            raise ScenarioError(f"server {s['ip']}: hostnames of several services {owners}")
        owner = owners.pop() if owners else None
        if s.get("service") and s["service"] != owner:
            raise ScenarioError(f"server {s['ip']}: the taxonomy puts its hostnames in {owner}")
        out.append(Server(s["ip"], hosts, owner))
    return tuple(out)


def _date(v) -> dt.date:
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))


def _check_unknown_domains(domains: tuple[str, ...], tax: dict[str, TaxonomyService]) -> None:
    suffixes = {d for s in tax.values() for d in s.domains}
    for d in domains:
        parts = d.split(".")
        if any(".".join(parts[i:]) in suffixes for i in range(len(parts))):
            raise ScenarioError(f"unknown_domains entry {d!r} matches a taxonomy domain")
