"""Vectorised generation of one slice of a day: sessions and the Zeek records they leave.

A slice covers some UTC hours of one day. Every column is drawn with numpy from a random
generator seeded by (seed, day, slice), so a day's output does not depend on which other
days are generated. Times are int64 microseconds since the epoch; the Zeek writer formats
them. Each log frame carries `_end` (when Zeek writes the record: the connection's end), and
`truth` holds one row per conn record with what the pipeline should conclude about it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from assets.simulate.day_records import Batch, slice_records
from assets.simulate.population import Population
from assets.simulate.scenario import Scenario
from assets.simulate.suspect import PlantedDay, planted_sessions
from assets.simulate.zeek_frames import DAY_US, EPOCH, US, make_uids

# the clock and uids, for the simulator's other modules
__all__ = ["DAY_US", "EPOCH", "US", "Batch", "DayGenerator", "DaySlice", "make_uids"]

MAX_DURATION_S = 6 * 3600  # keeps every record within the one-day lateness window

SCAN_PORTS = np.array([22, 23, 445, 3389, 8080, 21, 25, 1433, 5900, 81])


def _lognormal(rng, params: np.ndarray, idx: np.ndarray) -> np.ndarray:
    med, sig = params[idx, 0], params[idx, 1]
    return np.exp(np.log(med) + sig * rng.standard_normal(len(idx)))


def _pick(rng, cum: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Categorical draw per row from per-row cumulative probabilities cum[idx]."""
    u = rng.random(len(idx))[:, None]
    return (u >= cum[idx]).sum(axis=1)


@dataclass(frozen=True)
class DaySlice:
    """Minutes [minute_lo, minute_hi) of a UTC day, drawn at once. `long`: the slice that also
    draws the day's connections running past midnight. `fine`: the day is cut finer than hours,
    so its slice numbers take more of the uid counter's bits (see `uid_base`)."""

    no: int
    minute_lo: int
    minute_hi: int
    long: bool
    fine: bool = False

    def uid_base(self, day: dt.date) -> np.uint64:
        """Where this slice's uid counters start: unique across the slices of a day."""
        shift = 28 if self.fine else 34  # 11 bits of slice number below the day's bits at 40
        return (np.uint64(day.toordinal()) << np.uint64(40)) | (
            np.uint64(self.no) << np.uint64(shift)
        )


class DayGenerator:
    """Draws the sessions of a scenario; one call per (day, slice of hours)."""

    def __init__(self, sc: Scenario, pop: Population, seed: int, sessions_per_day: int):
        self.sc, self.pop, self.seed, self.spd = sc, pop, seed, sessions_per_day
        svcs = sc.services
        self.n_svc = len(svcs)
        hourly = np.array(sc.hourly_profile)
        weekday = np.array(sc.weekday_profile)
        self.hourly = hourly / hourly.mean()
        self.weekday = weekday / weekday.mean()
        kinds = np.array([[s.kind_mix[k] for k in ("named", "bare", "port")] for s in svcs])
        self.kind_cum = np.cumsum(kinds / kinds.sum(1, keepdims=True), axis=1)[:, :-1]
        tr = np.array([[s.profile.transport[t] for t in ("tls", "http", "dns_only")] for s in svcs])
        self.trans_cum = np.cumsum(tr / tr.sum(1, keepdims=True), axis=1)[:, :-1]
        self.dns_before = np.array([s.profile.dns_before for s in svcs])
        self.duration = np.array([s.profile.duration for s in svcs])
        self.orig_bytes = np.array([s.profile.orig_bytes for s in svcs])
        self.resp_bytes = np.array([s.profile.resp_bytes for s in svcs])
        # up to 4 port rules per service, picked uniformly
        self.n_rules = np.array([max(1, min(4, len(s.ports))) for s in svcs])
        self.rule_proto = np.zeros((self.n_svc, 4), np.int64)  # 0 tcp, 1 udp
        self.rule_lo = np.full((self.n_svc, 4), 443, np.int64)
        self.rule_hi = np.full((self.n_svc, 4), 443, np.int64)
        self.has_ports = np.array([bool(s.ports) for s in svcs])
        for i, s in enumerate(svcs):
            for j, r in enumerate(s.ports[:4]):
                self.rule_proto[i, j] = int(r.proto == "udp")
                self.rule_lo[i, j], self.rule_hi[i, j] = r.low, r.high
        self.svc_ids = np.array([s.id for s in svcs])
        self.svc_names = np.array([s.name for s in svcs])
        self.svc_cats = np.array([s.category for s in svcs])
        self.long_idx = np.array([sc.service_index(s) for s in sc.long_connection_services])
        self.host_name = pl.Series("host", pop.host_name, dtype=pl.String)
        self._local_cache: dict[dt.date, pl.DataFrame] = {}
        self._planted_cache: dict[dt.date, PlantedDay] = {}
        # inbound servers and the taxonomy identity of the sites they host
        self.server_hosts = [h or ["-"] for h in pop.server_host]
        self.server_names = np.array(
            [sc.taxonomy[s].name if s in sc.taxonomy else "Unknown" for s in pop.server_service]
            + ["Unknown"]
        )
        self.server_cats = np.array(
            [sc.taxonomy[s].category if s in sc.taxonomy else "unknown"
             for s in pop.server_service] + ["unknown"]
        )  # fmt: skip
        self.server_ids = np.array([s or "" for s in pop.server_service] + [""])
        # probes must not hit a port that a taxonomy port rule names
        covered = np.zeros(65536, bool)
        for t in sc.taxonomy.values():
            for r in t.ports:
                if r.proto == "tcp":
                    covered[r.low : r.high + 1] = True
        self.scan_ports = SCAN_PORTS[~covered[SCAN_PORTS]]
        if len(self.scan_ports) == 0:
            self.scan_ports = np.flatnonzero(~covered[40000:41000])[:16] + 40000

    # ---- time ---------------------------------------------------------------------------------
    def minutes(self, day: dt.date) -> pl.DataFrame:
        """The day's 1440 UTC minutes with their local date/hour/weekday and expected sessions."""
        if day in self._local_cache:
            return self._local_cache[day]
        start = (day - EPOCH).days * DAY_US
        t = start + np.arange(1440, dtype=np.int64) * 60 * US
        df = pl.DataFrame({"t": t}).with_columns(
            local=pl.from_epoch("t", "us").dt.replace_time_zone("UTC")
            .dt.convert_time_zone(self.sc.timezone)
        ).with_columns(
            local_date=pl.col("local").dt.date(),
            local_hour=pl.col("local").dt.hour().cast(pl.Int8),
            local_weekday=pl.col("local").dt.weekday().cast(pl.Int8),
        )  # fmt: skip
        act = {d: self.sc.activity_on(d) for d in df["local_date"].unique().to_list()}
        w = (
            self.hourly[df["local_hour"].to_numpy()]
            * self.weekday[df["local_weekday"].to_numpy() - 1]
            * np.array([act[d] for d in df["local_date"].to_list()])
        )
        df = df.with_columns(expected=pl.Series(w * self.spd / 1440.0))
        self._local_cache = {day: df}
        return df

    def planted_day(self, day: dt.date) -> PlantedDay:
        """The day's planted scanner probes and beacon check-ins (scenario `suspect`)."""
        if day not in self._planted_cache:
            self._planted_cache = {
                day: planted_sessions(self.sc.suspect, self.pop.planted, self.seed, day)
            }
        return self._planted_cache[day]

    def probs_on(self, date) -> np.ndarray:
        w = self.sc.weights_on(np.datetime64(date, "D").astype(dt.date))
        p = np.array([w[s] for s in self.svc_ids], dtype=float)
        return p / p.sum()

    # ---- one slice ----------------------------------------------------------------------------
    def generate(self, day: dt.date, sl: DaySlice) -> Batch:
        rng = np.random.default_rng([self.seed, day.toordinal(), sl.no])
        mins = self.minutes(day)[sl.minute_lo : sl.minute_hi]
        expected = mins["expected"].to_numpy()
        n = int(round(expected.sum()))
        m = rng.choice(len(mins), n, p=expected / expected.sum()) if n else np.empty(0, int)
        # at least 1 s into the minute so a preceding DNS lookup stays inside this slice
        ts = mins["t"].to_numpy()[m] + rng.integers(US, 60 * US, n)
        # service weights change on an event date only once both the local and the UTC date
        # have reached it, so "absent before D" holds for local days and for partitions alike
        local_date = np.minimum(mins["local_date"].to_numpy()[m], np.datetime64(day, "D"))
        inbound = rng.random(n) < self.sc.inbound_share
        out_rows = np.flatnonzero(~inbound)

        s = self._outbound(rng, ts[out_rows], local_date[out_rows])
        if sl.long and self.spd > 0 and self.sc.long_connections_per_day and len(self.long_idx):
            s = _concat(s, self._long(rng, day, sl.minute_lo))
        i = self._inbound(rng, ts[inbound])
        planted = self.planted_day(day)
        day0 = (day - EPOCH).days * DAY_US
        in_slice = (planted.ts >= day0 + sl.minute_lo * 60 * US) & (
            planted.ts < day0 + sl.minute_hi * 60 * US
        )
        return self._records(rng, day, sl, s, i, planted.select(np.flatnonzero(in_slice)))

    def _outbound(self, rng, ts: np.ndarray, local_date: np.ndarray) -> dict:
        n = len(ts)
        svc = np.zeros(n, np.int64)
        for d in np.unique(local_date):
            rows = np.flatnonzero(local_date == d)
            svc[rows] = rng.choice(self.n_svc, len(rows), p=self.probs_on(d))
        kind = _pick(rng, self.kind_cum, svc)
        transport = np.where(kind == 0, _pick(rng, self.trans_cum, svc), -1)
        dur = np.clip(_lognormal(rng, self.duration, svc), 0.005, MAX_DURATION_S)
        return self._shape(rng, ts, svc, kind, transport, dur)

    def _long(self, rng, day: dt.date, minute_lo: int) -> dict:
        """Sessions that run past midnight: logged in the next day's first hourly file. They
        start after `minute_lo`, and may start after the slice's end: a record is only ever
        written once its end has passed."""
        k = self.sc.long_connections_per_day
        next_midnight = ((day - EPOCH).days + 1) * DAY_US
        end = next_midnight + rng.integers(5 * 60 * US, 55 * 60 * US, k)
        lo = np.maximum(end - 5 * 3600 * US, (day - EPOCH).days * DAY_US + minute_lo * 60 * US + US)
        ts = rng.integers(lo, next_midnight - 60 * US)
        svc = self.long_idx[rng.integers(0, len(self.long_idx), k)]
        kind = np.zeros(k, np.int64)
        transport = np.zeros(k, np.int64)  # TLS with SNI: the hostname needs no DNS
        s = self._shape(rng, ts, svc, kind, transport, (end - ts) / US)
        s["dns"] = np.zeros(k, bool)
        return s

    def _shape(self, rng, ts, svc, kind, transport, dur) -> dict:
        n = len(ts)
        pop = self.pop
        user = rng.choice(len(pop.user_ip), n, p=pop.user_weight)
        u = rng.random(n)
        host = pop.svc_host_off[svc] + (u * pop.svc_host_n[svc]).astype(np.int64)
        host = np.where(kind == 0, host, -1)
        pick2 = rng.integers(0, 2, n)
        named_ip = pop.host_ips[np.maximum(host, 0), pick2] if len(pop.host_ips) else 0
        bare = pop.svc_bare_off[svc] + (u * pop.svc_bare_n[svc]).astype(np.int64)
        bare_ip = (
            pop.bare_ip[np.minimum(bare, max(len(pop.bare_ip) - 1, 0))] if len(pop.bare_ip) else 0
        )
        peer_ip = pop.peer_ip[rng.choice(len(pop.peer_ip), n, p=pop.peer_p)]
        resp = np.where(kind == 0, named_ip, np.where(kind == 1, bare_ip, peer_ip))

        rule = rng.integers(0, 1 << 30, n) % self.n_rules[svc]
        lo, hi = self.rule_lo[svc, rule], self.rule_hi[svc, rule]
        rule_port = lo + rng.integers(0, 1 << 30, n) % (hi - lo + 1)
        rule_udp = self.rule_proto[svc, rule] == 1
        has_rule = self.has_ports[svc]
        # named: 443 (TLS), 80 (HTTP); hostname-only flows use the service's port, else QUIC
        port = np.where(transport == 0, 443, np.where(transport == 1, 80, 443))
        udp = transport == 2
        dns_only_rule = (transport == 2) & has_rule
        port = np.where(dns_only_rule, rule_port, port)
        udp = np.where(dns_only_rule, rule_udp, udp)
        # bare: the service's own port when it has one, else a TLS port with nothing parsed
        port = np.where(kind == 1, np.where(has_rule, rule_port, 443), port)
        udp = np.where(kind == 1, has_rule & rule_udp, udp)
        port = np.where(kind == 2, rule_port, port)
        udp = np.where(kind == 2, rule_udp, udp)

        orig_b = _lognormal(rng, self.orig_bytes, svc).astype(np.int64) + 60
        resp_b = _lognormal(rng, self.resp_bytes, svc).astype(np.int64) + 60
        # unanswered attempts: common towards peers (Bitcoin, BitTorrent, relays)
        s0 = (kind == 2) & ~udp & (rng.random(n) < 0.15)
        dns = (kind == 0) & ((transport == 2) | (rng.random(n) < self.dns_before[svc]))
        return {
            "ts": ts.astype(np.int64),
            "dur": (dur * US).astype(np.int64),
            "orig": pop.user_ip[user],
            "resolver": pop.user_resolver[user],
            "resp": resp.astype(np.int64),
            "resp_p": port.astype(np.int64),
            "udp": udp.astype(bool),
            "svc": svc,
            "kind": kind,
            "transport": transport,
            "host": host,
            "pick2": pick2,
            "orig_b": orig_b,
            "resp_b": resp_b,
            "s0": s0,
            "dns": dns,
        }

    def _inbound(self, rng, ts: np.ndarray) -> dict:
        n = len(ts)
        pop = self.pop
        src = pop.inbound_ip[rng.choice(len(pop.inbound_ip), n, p=pop.inbound_p)]
        scan = rng.random(n) < self.sc.inbound_scan_share
        if len(pop.server_ip) == 0:
            scan[:] = True
        srv = rng.integers(0, max(len(pop.server_ip), 1), n)
        scan_dst = pop.user_ip[rng.integers(0, len(pop.user_ip), n)]
        dst = np.where(scan, scan_dst, pop.server_ip[srv] if len(pop.server_ip) else scan_dst)
        tls = rng.random(n) < 0.7
        port = np.where(scan, self.scan_ports[rng.integers(0, len(self.scan_ports), n)],
                        np.where(tls, 443, 80))  # fmt: skip
        hosts_n = np.array([len(h) for h in self.server_hosts] or [1])
        hsel = rng.integers(0, 1 << 30, n) % hosts_n[np.minimum(srv, len(hosts_n) - 1)]
        flat = pl.Series([h for hs in self.server_hosts for h in hs] or ["-"], dtype=pl.String)
        off = np.concatenate([[0], np.cumsum(hosts_n)[:-1]])
        hostname = flat.gather(off[np.minimum(srv, len(off) - 1)] + hsel)
        dur = np.where(scan, rng.uniform(0.00005, 0.0002, n), rng.lognormal(np.log(8), 1.0, n))
        return {
            "ts": ts.astype(np.int64),
            "dur": (np.clip(dur, 0, MAX_DURATION_S) * US).astype(np.int64),
            "orig": src,
            "resp": dst.astype(np.int64),
            "resp_p": port.astype(np.int64),
            "scan": scan,
            "tls": tls & ~scan,
            "http": ~tls & ~scan,
            "hostname": hostname,
            "server": np.where(scan, len(pop.server_ip), srv),
            "orig_b": rng.lognormal(np.log(600), 0.8, n).astype(np.int64),
            "resp_b": rng.lognormal(np.log(40000), 1.2, n).astype(np.int64),
        }

    def _records(self, rng, day: dt.date, sl: DaySlice, s: dict, i: dict, p: PlantedDay) -> Batch:
        return slice_records(self, rng, day, sl.no, sl.uid_base(day), s, i, p)


def _concat(a: dict, b: dict) -> dict:
    return {k: np.concatenate([a[k], b[k]]) for k in a}
