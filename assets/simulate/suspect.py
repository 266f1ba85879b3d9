"""Planted suspect activity: foreign sources scanning the monitored networks, and monitored
hosts beaconing to a remote address on a fixed period.

The scenario's `suspect:` section names them; `plan_actors` picks their addresses once per run
and `planted_sessions` draws one UTC day's connections. Each actor-day has its own random
generator (seed, actor, day), so a day's records do not depend on the slicing of the day or on
which other days are simulated. Neither kind leaves a DNS, TLS or HTTP record: a scanner's
probes are bare SYNs, and the beacons talk to a literal address on a port no taxonomy rule
names, so the pipeline sees them as `unknown` traffic with no hostname.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field

import numpy as np

US = 1_000_000
DAY_US = 86_400 * US
EPOCH = dt.date(1970, 1, 1)
REJ_SHARE = 0.7  # probes a live host answers with a reset; the rest go unanswered (S0)
PROBE_GAP_S = (0.2, 1.5)  # a scanner's pace between probes
BEACON_BYTES = ((180, 420), (120, 900))  # request, response sizes of one check-in
BEACON_DURATION_S = (0.05, 1.2)


class SuspectPlanError(ValueError):
    """The scenario's `suspect` section is not usable."""


@dataclass(frozen=True)
class ScannerPlan:
    """One foreign source probing `targets` live hosts of `network` on every port in `ports`,
    once on each of its UTC `days`."""

    country: str
    network: str
    targets: int
    ports: tuple[int, ...]
    days: tuple[dt.date, ...]

    @property
    def probes_per_day(self) -> int:
        return self.targets * len(self.ports)


@dataclass(frozen=True)
class BeaconPlan:
    """One host of `network` connecting to a `country` address on tcp/`port` every
    `period_s` seconds (each gap uniform within +-`jitter` of it), all day, UTC days
    `start`..`end`."""

    network: str
    country: str
    port: int
    period_s: float
    jitter: float
    start: dt.date
    end: dt.date

    def active_on(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class SuspectPlan:
    scanners: tuple[ScannerPlan, ...] = ()
    beacons: tuple[BeaconPlan, ...] = ()


def _date(v) -> dt.date:
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))


def parse_suspect_plan(
    doc: dict | None,
    *,
    networks: list[str],
    countries: set[str],
    covered_tcp_ports: set[int],
) -> SuspectPlan:
    """Read the scenario's `suspect` section. Ports must be ones no taxonomy rule names (a
    probe of a VPN port would otherwise read as VPN use), countries must have anchors."""
    doc = doc or {}

    def check(where: str, network: str, country: str, ports) -> None:
        if network not in networks:
            raise SuspectPlanError(f"{where}: unknown network {network!r} (one of {networks})")
        if country not in countries:
            raise SuspectPlanError(f"{where}: country_anchors lacks {country!r}")
        named = sorted(p for p in ports if p in covered_tcp_ports)
        if named:
            raise SuspectPlanError(f"{where}: taxonomy port rules name tcp/{named}")
        if any(not 0 < p < 65536 for p in ports):
            raise SuspectPlanError(f"{where}: ports must be 1..65535")

    scanners = []
    for i, s in enumerate(doc.get("scanners") or ()):
        plan = ScannerPlan(
            country=str(s["country"]),
            network=str(s["network"]),
            targets=int(s["targets"]),
            ports=tuple(int(p) for p in s["ports"]),
            days=tuple(sorted(_date(d) for d in s["days"])),
        )
        check(f"suspect.scanners[{i}]", plan.network, plan.country, plan.ports)
        if plan.targets < 1 or not plan.ports or not plan.days:
            raise SuspectPlanError(f"suspect.scanners[{i}]: needs targets, ports and days")
        scanners.append(plan)
    beacons = []
    for i, b in enumerate(doc.get("beacons") or ()):
        plan = BeaconPlan(
            network=str(b["network"]),
            country=str(b["country"]),
            port=int(b["port"]),
            period_s=float(b["period_s"]),
            jitter=float(b.get("jitter", 0.1)),
            start=_date(b["start"]),
            end=_date(b["end"]),
        )
        check(f"suspect.beacons[{i}]", plan.network, plan.country, (plan.port,))
        if not (plan.period_s >= 10 and 0 <= plan.jitter < 1 and plan.start <= plan.end):
            raise SuspectPlanError(
                f"suspect.beacons[{i}]: needs period_s >= 10, 0 <= jitter < 1, start <= end"
            )
        beacons.append(plan)
    return SuspectPlan(tuple(scanners), tuple(beacons))


@dataclass
class PlantedActors:
    """The addresses of a run's planted actors (IPv4 integers)."""

    scanner_ip: np.ndarray
    scanner_targets: list[np.ndarray]  # per scanner: the live hosts it probes
    beacon_local: np.ndarray
    beacon_remote: np.ndarray
    remote_ips: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.remote_ips = np.concatenate([self.scanner_ip, self.beacon_remote])


def plan_actors(
    plan: SuspectPlan,
    rng,
    live_hosts: dict[str, np.ndarray],
    users: dict[str, np.ndarray],
    draw_remote,
) -> PlantedActors:
    """Addresses of the planted actors. Scanners probe live hosts only (users, resolvers,
    servers): probes of unused addresses would count as extra active local addresses.
    `draw_remote(country, n)` hands out n fresh foreign addresses of a country."""
    targets = []
    for s in plan.scanners:
        hosts = live_hosts[s.network]
        if s.targets > len(hosts):
            raise SuspectPlanError(
                f"scanner from {s.country}: {s.network} has only {len(hosts)} live hosts"
            )
        targets.append(np.sort(rng.choice(hosts, s.targets, replace=False)))
    scanner_ip = np.array([draw_remote(s.country, 1)[0] for s in plan.scanners], np.int64)
    beacon_local = np.array(
        [users[b.network][rng.integers(0, len(users[b.network]))] for b in plan.beacons], np.int64
    )
    beacon_remote = np.array([draw_remote(b.country, 1)[0] for b in plan.beacons], np.int64)
    return PlantedActors(scanner_ip, targets, beacon_local, beacon_remote)


@dataclass
class PlantedDay:
    """One UTC day's planted connections (arrays of equal length) and who made them."""

    ts: np.ndarray
    dur: np.ndarray  # microseconds; -1 = unset (an unanswered SYN)
    orig: np.ndarray
    resp: np.ndarray
    resp_p: np.ndarray
    orig_b: np.ndarray  # -1 = unset
    resp_b: np.ndarray
    state: np.ndarray
    inbound: np.ndarray  # bool: scanner probe (else beacon check-in)
    actor: np.ndarray  # index into scanners (inbound) or beacons (outbound)

    def __len__(self) -> int:
        return len(self.ts)

    def select(self, rows: np.ndarray) -> PlantedDay:
        return PlantedDay(**{k: v[rows] for k, v in self.__dict__.items()})


def _empty() -> PlantedDay:
    i, b = np.empty(0, np.int64), np.empty(0, bool)
    return PlantedDay(i, i, i, i, i, i, i, np.empty(0, "<U3"), b, i)


def planted_sessions(
    plan: SuspectPlan, actors: PlantedActors, seed: int, day: dt.date
) -> PlantedDay:
    """Every planted connection that starts on UTC `day`, sorted by ts."""
    day0 = (day - EPOCH).days * DAY_US
    parts = []
    for k, s in enumerate(plan.scanners):
        if day not in s.days:
            continue
        rng = np.random.default_rng([seed, 0x7363616E, k, day.toordinal()])
        n = s.probes_per_day
        # a horizontal sweep: every target on one port, then the next port
        dst = np.tile(actors.scanner_targets[k], len(s.ports))
        port = np.repeat(np.array(s.ports, np.int64), s.targets)
        gaps = rng.uniform(*PROBE_GAP_S, n) * US
        span = int(gaps.sum()) + US
        start = day0 + rng.integers(0, DAY_US - span)
        ts = start + np.cumsum(gaps).astype(np.int64)
        rej = rng.random(n) < REJ_SHARE
        parts.append(
            PlantedDay(
                ts=ts,
                dur=np.where(rej, rng.integers(40, 400, n), -1),
                orig=np.full(n, actors.scanner_ip[k]),
                resp=dst,
                resp_p=port,
                orig_b=np.where(rej, 0, -1),
                resp_b=np.where(rej, 0, -1),
                state=np.where(rej, "REJ", "S0"),
                inbound=np.ones(n, bool),
                actor=np.full(n, k),
            )
        )
    for k, b in enumerate(plan.beacons):
        if not b.active_on(day):
            continue
        rng = np.random.default_rng([seed, 0x62636E, k, day.toordinal()])
        most = int(86_400 / (b.period_s * (1 - b.jitter))) + 2
        gaps = b.period_s * rng.uniform(1 - b.jitter, 1 + b.jitter, most)
        offsets = rng.uniform(0, b.period_s) + np.concatenate([[0.0], np.cumsum(gaps[:-1])])
        ts = day0 + (offsets[offsets < 86_400] * US).astype(np.int64)
        n = len(ts)
        parts.append(
            PlantedDay(
                ts=ts,
                dur=(rng.uniform(*BEACON_DURATION_S, n) * US).astype(np.int64),
                orig=np.full(n, actors.beacon_local[k]),
                resp=np.full(n, actors.beacon_remote[k]),
                resp_p=np.full(n, b.port, np.int64),
                orig_b=rng.integers(*BEACON_BYTES[0], n),
                resp_b=rng.integers(*BEACON_BYTES[1], n),
                state=np.full(n, "SF"),
                inbound=np.zeros(n, bool),
                actor=np.full(n, k),
            )
        )
    if not parts:
        return _empty()
    out = PlantedDay(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in _FIELDS})
    return out.select(np.argsort(out.ts, kind="stable"))


_FIELDS = tuple(PlantedDay.__dataclass_fields__)


def _ip(value) -> str:
    return str(ipaddress.IPv4Address(int(value)))


def truth_entries(
    plan: SuspectPlan,
    actors: PlantedActors,
    start: dt.date,
    end: dt.date,
    counts: dict[tuple[bool, int, str], int],
) -> dict:
    """The ground truth's `suspect` section for a run over UTC days start..end; `counts` holds
    the connections written per (scanner?, actor index, day)."""
    scanners = []
    for k, s in enumerate(plan.scanners):
        days = [d.isoformat() for d in s.days if start <= d <= end]
        if days:
            scanners.append(
                {
                    "ip": _ip(actors.scanner_ip[k]),
                    "country": s.country,
                    "network": s.network,
                    "targets": s.targets,
                    "ports": list(s.ports),
                    "days": days,
                    "sessions": {d: counts.get((True, k, d), 0) for d in days},
                }
            )
    beacons = []
    for k, b in enumerate(plan.beacons):
        first, last = max(b.start, start), min(b.end, end)
        days = [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
        if days:
            beacons.append(
                {
                    "local_ip": _ip(actors.beacon_local[k]),
                    "remote_ip": _ip(actors.beacon_remote[k]),
                    "port": b.port,
                    "proto": "tcp",
                    "direction": "outbound",
                    "network": b.network,
                    "remote_country": b.country,
                    "period_s": b.period_s,
                    "jitter": b.jitter,
                    "days": days,
                    "sessions": {d: counts.get((False, k, d), 0) for d in days},
                }
            )
    return {
        "scope": (
            "Planted suspect activity. Scanners: foreign sources probing live monitored hosts "
            "(S0/REJ, no DNS, no hostname); their probes are inbound sessions and count in the "
            "inbound country shares. Beacons: a monitored host connecting to one remote "
            "address and port every period_s (+- jitter), all day; outbound sessions of "
            "category unknown. Days are UTC days."
        ),
        "scanners": scanners,
        "beacons": beacons,
    }
