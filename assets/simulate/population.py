"""Who talks to whom: local users, the remote address pools and the hostnames they answer to.

Everything here is small (thousands of addresses) and built once per run from the scenario
and the seed; the per-session generation then only indexes into these arrays.
A service's addresses come from its real owner's blocks (the scenario's `service_hosting`
file), each address checked against the offline ASN data so that attribution from flows
(prefix, then AS) meets the owner the real Internet would show; without such a file, from
the service's own taxonomy IP prefixes, or from the networks that geoip2fast's bundled
database places in the intended country (found through the scenario's anchor addresses).
Peers, inbound sources and planted actors use those country networks. The pipeline's
IP-to-country lookup then sees the country of the address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import numpy as np
import polars as pl

from assets.simulate.scenario import Scenario, ServicePlan, suffix_owner
from assets.simulate.suspect import PlantedActors, plan_actors

SUBDOMAINS = {
    "streaming": ("video", "cdn", "play", "static"),
    "gaming": ("login", "game", "patch", "cdn"),
    "social": ("m", "api", "static", "graph"),
    "email": ("mail", "smtp", "imap"),
    "crypto": ("stratum", "pool", "btc"),
    "default": ("api", "static", "cdn", "img"),
}
HOSTS_PER_SERVICE_IPS = 24  # addresses behind a service's hostnames
BARE_IPS = 8  # addresses reached without any hostname (prefix-rule flows)
COUNTRY_POOL = 256  # addresses per country for inbound sources and port-flow peers


def ip_int(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def ips_to_str(values: np.ndarray) -> pl.Series:
    """Dotted quads for an array of IPv4 integers (vectorised)."""
    s = pl.Series("ip", np.asarray(values, dtype=np.int64))
    return pl.select(
        pl.concat_str(
            [(s // 16777216) % 256, (s // 65536) % 256, (s // 256) % 256, s % 256],
            separator=".",
        ).alias("ip")
    ).to_series()


@dataclass
class Prefixes:
    """IPv4 prefixes with the index of their owner, for longest-prefix ownership checks."""

    net: np.ndarray
    mask: np.ndarray
    length: np.ndarray
    owner: np.ndarray

    @classmethod
    def build(cls, items: list[tuple[str, int]]) -> Prefixes:
        nets, masks, lens, owners = [], [], [], []
        for cidr, owner in items:
            n = ipaddress.ip_network(cidr, strict=False)
            if n.version != 4:
                continue
            nets.append(int(n.network_address))
            masks.append(int(n.netmask))
            lens.append(n.prefixlen)
            owners.append(owner)
        return cls(
            np.array(nets, np.int64),
            np.array(masks, np.int64),
            np.array(lens, np.int64),
            np.array(owners, np.int64),
        )

    def owner_of(self, ips: np.ndarray) -> np.ndarray:
        """Owner of the longest matching prefix per address (-1 when none)."""
        ips = np.asarray(ips, np.int64)
        out = np.full(ips.shape, -1, np.int64)
        best = np.full(ips.shape, -1, np.int64)
        for net, mask, ln, own in zip(self.net, self.mask, self.length, self.owner, strict=True):
            hit = ((ips & mask) == net) & (ln > best)
            out[hit] = own
            best[hit] = ln
        return out


@dataclass
class Population:
    """Local users and remote address pools of one scenario run."""

    # local side
    user_ip: np.ndarray  # int
    user_weight: np.ndarray  # probabilities
    user_resolver: np.ndarray  # int, the user's network resolver
    local_nets: Prefixes  # owner = network index
    network_labels: list[str]
    # outbound named flows: hostnames, each answering with two addresses
    host_name: list[str]
    host_ips: np.ndarray  # (n_hosts, 2) int
    host_ttl: np.ndarray  # seconds
    svc_host_off: np.ndarray
    svc_host_n: np.ndarray
    # outbound flows with no hostname, to a service's own prefixes
    bare_ip: np.ndarray
    svc_bare_off: np.ndarray
    svc_bare_n: np.ndarray
    # port-only flows: peers worldwide
    peer_ip: np.ndarray
    peer_p: np.ndarray
    # inbound sources
    inbound_ip: np.ndarray
    inbound_p: np.ndarray
    # inbound targets (servers)
    server_ip: np.ndarray
    server_host: list[list[str]]
    server_service: list[str | None]
    # address -> ISO country, as the pipeline's database says (sorted for searchsorted)
    country_ips: np.ndarray
    country_codes: np.ndarray
    # planted scanners and beacons (scenario `suspect`)
    planted: PlantedActors

    def country_of(self, ips: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.country_ips, ips)
        idx = np.clip(idx, 0, len(self.country_ips) - 1)
        found = self.country_ips[idx] == ips
        return np.where(found, self.country_codes[idx], "")


def _country_blocks(sc: Scenario, geo, avoid: Prefixes) -> dict[str, list[tuple[int, int]]]:
    """Per country, the geoip2fast networks that hold its anchor addresses."""
    out: dict[str, list[tuple[int, int]]] = {}
    for cc, anchors in sc.country_anchors.items():
        blocks = []
        for a in anchors:
            res = geo.lookup(a)
            if res.country_code != cc or not res.cidr:
                continue  # the database disagrees: do not plant a wrong country
            n = ipaddress.ip_network(res.cidr)
            blocks.append((int(n.network_address), n.num_addresses))
        if not blocks:
            raise ValueError(f"no anchor of {cc} is placed in {cc} by geoip2fast")
        out[cc] = blocks
    return out


class _Taken:
    """Addresses already handed out: no address serves two roles (passive DNS would
    otherwise name one service's flows after another's)."""

    def __init__(self):
        self.ips = np.empty(0, np.int64)

    def free(self, ips: np.ndarray) -> np.ndarray:
        return ~np.isin(ips, self.ips)

    def take(self, ips: np.ndarray) -> np.ndarray:
        self.ips = np.concatenate([self.ips, ips])
        return ips


def _draw_in_blocks(
    rng, blocks: list[tuple[int, int]], n: int, avoid: Prefixes, taken: _Taken
) -> np.ndarray:
    """n distinct host addresses inside the blocks, none inside an `avoid` prefix."""
    got = np.empty(0, np.int64)
    for _ in range(50):
        k = max(4 * n, 64)
        which = rng.integers(0, len(blocks), k)
        base = np.array([b[0] for b in blocks], np.int64)[which]
        size = np.array([b[1] for b in blocks], np.int64)[which]
        ips = base + rng.integers(0, 2**62, k) % size
        ok = (ips % 256 != 0) & (ips % 256 != 255) & (avoid.owner_of(ips) < 0) & taken.free(ips)
        got = np.unique(np.concatenate([got, ips[ok]]))
        if len(got) >= n:
            return taken.take(rng.permutation(got)[:n])
    raise ValueError("could not draw enough addresses outside the taxonomy prefixes")


def _prefix_ips(
    rng, svc_idx: int, plan: ServicePlan, prefixes: Prefixes, n: int, taken: _Taken
) -> np.ndarray:
    """n distinct addresses inside the service's prefixes that its own rule matches."""
    blocks = []
    for cidr in plan.ip_prefixes:
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version == 4:
            blocks.append((int(net.network_address), net.num_addresses))
    got = np.empty(0, np.int64)
    for _ in range(50):
        k = max(4 * n, 64)
        which = rng.integers(0, len(blocks), k)
        base = np.array([b[0] for b in blocks], np.int64)[which]
        size = np.array([b[1] for b in blocks], np.int64)[which]
        ips = base + rng.integers(0, 2**62, k) % size
        ok = (prefixes.owner_of(ips) == svc_idx) & (ips % 256 != 0) & (ips % 256 != 255)
        ok &= taken.free(ips)
        got = np.unique(np.concatenate([got, ips[ok]]))
        if len(got) >= n:
            return taken.take(rng.permutation(got)[:n])
    raise ValueError(f"service {plan.id}: its prefixes are shadowed by other services")


def _owner_ips(
    rng,
    svc_idx: int,
    plan: ServicePlan,
    prefixes: Prefixes,
    non_public: Prefixes,
    n: int,
    taken: _Taken,
    org_of,
) -> np.ndarray:
    """n distinct addresses inside the blocks of the service's real owner that the ASN data
    gives to that owner; inside the service's own prefix rule too when it has one."""
    owner = plan.hosting_owner
    blocks = []
    for cidr in owner.prefixes:
        net = ipaddress.ip_network(cidr, strict=False)
        blocks.append((int(net.network_address), net.num_addresses))
    orgs = set(owner.orgs)
    got = np.empty(0, np.int64)
    for _ in range(50):
        k = max(4 * n, 64)
        which = rng.integers(0, len(blocks), k)
        base = np.array([b[0] for b in blocks], np.int64)[which]
        size = np.array([b[1] for b in blocks], np.int64)[which]
        ips = base + rng.integers(0, 2**62, k) % size
        ok = (ips % 256 != 0) & (ips % 256 != 255) & (non_public.owner_of(ips) < 0)
        ok &= taken.free(ips)
        if plan.ip_prefixes:
            ok &= prefixes.owner_of(ips) == svc_idx
        cand = np.unique(ips[ok])
        if len(cand):
            in_org = np.array([o in orgs for o in org_of(ips_to_str(cand).to_list())], bool)
            got = np.unique(np.concatenate([got, cand[in_org]]))
        if len(got) >= n:
            return taken.take(rng.permutation(got)[:n])
    raise ValueError(
        f"service {plan.id}: too few addresses of {owner.owner} ({', '.join(owner.orgs)}) "
        "in its hosting prefixes"
    )


def _hostnames(rng, plan: ServicePlan, suffixes: dict[str, str]) -> list[str]:
    """Hostnames under the service's domains that the taxonomy maps back to the service."""
    subs = SUBDOMAINS.get(plan.category, SUBDOMAINS["default"])
    names = []
    for d in plan.domains:
        if "." not in d:
            continue  # a bare suffix such as "onion" names no host
        names += [d, f"www.{d}", f"{subs[int(rng.integers(0, len(subs)))]}.{d}"]
    own = plan.id if plan.id in suffixes.values() else None
    return [h for h in dict.fromkeys(names) if suffix_owner(h, suffixes) == own]


def _org_of(ips: list[str]) -> list[str | None]:
    """AS organisation of each address, from the ASN data the pipeline reads."""
    from assets.reference.asn import geoip2fast_source

    return [org for _, org in geoip2fast_source().answers(ips)]


def build_population(sc: Scenario, seed: int) -> Population:
    from assets.reference.asn import geoip2fast_reader

    rng = np.random.default_rng([seed, 0x706F70])
    geo = geoip2fast_reader()
    tax_ids = {sid: i for i, sid in enumerate(sc.taxonomy)}
    plan_idx = {p.id: i for i, p in enumerate(sc.services)}
    # Prefix owners are scenario service indexes; taxonomy-only services get owner >= 10_000
    # so addresses inside them are never drawn for another service.
    items = []
    for sid, t in sc.taxonomy.items():
        owner = plan_idx.get(sid, 10_000 + tax_ids[sid])
        items += [(p, owner) for p in t.ip_prefixes]
    prefixes = Prefixes.build(items)
    local = Prefixes.build([(n.cidr, i) for i, n in enumerate(sc.networks)])
    avoid = Prefixes.build(
        [(p, 0) for p, _ in items]
        + [(n.cidr, 0) for n in sc.networks]
        + [(c, 0) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")]
    )
    blocks = _country_blocks(sc, geo, avoid)
    non_public = Prefixes.build(
        [(n.cidr, 0) for n in sc.networks]
        + [(c, 0) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")]
    )
    taken = _Taken()
    suffixes = {d: sid for sid, t in sc.taxonomy.items() for d in t.domains}

    # local users: distinct hosts of each network, never its resolver or servers
    user_ip, user_res = [], []
    for n in sc.networks:
        net = ipaddress.ip_network(n.cidr)
        reserved = [ip_int(n.resolver), *(ip_int(s.ip) for s in n.servers)]
        hosts = np.arange(int(net.network_address) + 1, int(net.broadcast_address), dtype=np.int64)
        hosts = hosts[~np.isin(hosts, reserved)]
        if n.users > len(hosts):
            raise ValueError(f"{n.cidr} cannot hold {n.users} users")
        user_ip.append(rng.choice(hosts, n.users, replace=False))
        user_res.append(np.full(n.users, ip_int(n.resolver), np.int64))
    user_ip_a = np.concatenate(user_ip)
    # heavy users and light users: activity is far from even in real networks
    w = rng.lognormal(0.0, 0.9, len(user_ip_a))

    host_name: list[str] = []
    host_ips, host_ttl = [], []
    svc_host_off, svc_host_n, bare_ip, svc_bare_off, svc_bare_n = [], [], [], [], []
    for i, plan in enumerate(sc.services):
        svc_host_off.append(len(host_name))
        svc_bare_off.append(sum(len(b) for b in bare_ip))
        names = _hostnames(rng, plan, suffixes) if plan.kind_mix["named"] > 0 else []
        if plan.kind_mix["named"] > 0 and not names:
            raise ValueError(f"service {plan.id}: no usable hostname under its domains")
        need_named = HOSTS_PER_SERVICE_IPS if names else 0
        need_bare = BARE_IPS if plan.kind_mix["bare"] > 0 else 0
        if need_named + need_bare:
            if plan.hosting_owner is not None:
                ips = _owner_ips(
                    rng, i, plan, prefixes, non_public, need_named + need_bare, taken, _org_of
                )
            elif plan.ip_prefixes:
                ips = _prefix_ips(rng, i, plan, prefixes, need_named + need_bare, taken)
            else:
                ips = _draw_in_blocks(
                    rng, blocks[plan.hosting], need_named + need_bare, avoid, taken
                )
            named, bare = ips[:need_named], ips[need_named:]
        else:
            named = bare = np.empty(0, np.int64)
        if names:
            first = rng.integers(0, len(named), len(names))
            second = (first + 1 + rng.integers(0, len(named) - 1, len(names))) % len(named)
            host_ips.append(np.stack([named[first], named[second]], axis=1))
            host_ttl.append(rng.choice(np.array([60, 300, 600, 3600]), len(names)))
            host_name += names
        bare_ip.append(bare)
        svc_host_n.append(len(names))
        svc_bare_n.append(len(bare))

    def country_pool(weights: dict[str, float], tag: int) -> tuple[np.ndarray, np.ndarray]:
        r = np.random.default_rng([seed, tag])
        ips, ps = [], []
        total = sum(weights.values())
        for cc, wt in weights.items():
            got = _draw_in_blocks(r, blocks[cc], COUNTRY_POOL, avoid, taken)
            ips.append(got)
            ps.append(np.full(len(got), wt / total / len(got)))
        if not ips:
            return np.empty(0, np.int64), np.empty(0)
        p = np.concatenate(ps)
        return np.concatenate(ips), p / p.sum()

    peer_ip, peer_p = country_pool(sc.peer_countries, 0x70656572)
    inbound_ip, inbound_p = country_pool(sc.inbound_countries, 0x696E62)
    servers = [s for n in sc.networks for s in n.servers]

    # own generator: planting suspect actors leaves every other address as it was
    rng_s = np.random.default_rng([seed, 0x73757370])
    users = {n.label: u for n, u in zip(sc.networks, user_ip, strict=True)}
    live = {
        n.label: np.concatenate(
            [users[n.label], [ip_int(n.resolver)], [ip_int(s.ip) for s in n.servers]]
        ).astype(np.int64)
        for n in sc.networks
    }
    planted = plan_actors(
        sc.suspect,
        rng_s,
        live,
        users,
        lambda cc, k: _draw_in_blocks(rng_s, blocks[cc], k, avoid, taken),
    )

    all_ips = np.unique(
        np.concatenate(
            [np.concatenate(host_ips).ravel() if host_ips else np.empty(0, np.int64)]
            + bare_ip
            + [peer_ip, inbound_ip, planted.remote_ips]
        )
    )
    strs = ips_to_str(all_ips).to_list()
    codes = np.array([geo.lookup(s).country_code or "" for s in strs], dtype=object)
    codes = np.where(np.char.str_len(codes.astype(str)) == 2, codes.astype(str), "")

    return Population(
        user_ip=user_ip_a,
        user_weight=w / w.sum(),
        user_resolver=np.concatenate(user_res),
        local_nets=local,
        network_labels=[n.label for n in sc.networks],
        host_name=host_name,
        host_ips=np.concatenate(host_ips) if host_ips else np.empty((0, 2), np.int64),
        host_ttl=np.concatenate(host_ttl) if host_ttl else np.empty(0, np.int64),
        svc_host_off=np.array(svc_host_off, np.int64),
        svc_host_n=np.array(svc_host_n, np.int64),
        bare_ip=np.concatenate(bare_ip) if bare_ip else np.empty(0, np.int64),
        svc_bare_off=np.array(svc_bare_off, np.int64),
        svc_bare_n=np.array(svc_bare_n, np.int64),
        peer_ip=peer_ip,
        peer_p=peer_p,
        inbound_ip=inbound_ip,
        inbound_p=inbound_p,
        server_ip=np.array([ip_int(s.ip) for s in servers], np.int64),
        server_host=[list(s.hostnames) for s in servers],
        server_service=[s.service for s in servers],
        country_ips=all_ips,
        country_codes=codes,
        planted=planted,
    )
