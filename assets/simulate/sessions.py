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

from assets.simulate.population import Population, ips_to_str
from assets.simulate.scenario import Scenario
from assets.simulate.suspect import PlantedDay, planted_sessions

US = 1_000_000
DAY_US = 86_400 * US
EPOCH = dt.date(1970, 1, 1)
MAX_DURATION_S = 6 * 3600  # keeps every record within the one-day lateness window

CIPHERS = np.array(
    [
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_RSA_WITH_AES_128_CBC_SHA",
    ]
)
TLS_VERSIONS = np.array(["TLSv12", "TLSv12", "TLSv12", "TLSv12", "TLSv10", "TLSv11"])
CURVES = np.array(["secp256r1", "x25519", "secp384r1"])
ALPN = np.array(["h2", "http/1.1", "-"])
USER_AGENTS = np.array(
    [
        "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/58.0.3029.110 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:53.0) Gecko/20100101 Firefox/53.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_12_4) AppleWebKit/603.1.30 (KHTML, like "
        "Gecko) Version/10.1 Safari/603.1.30",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 10_3_1 like Mac OS X) AppleWebKit/603.1.30 "
        "(KHTML, like Gecko) Version/10.0 Mobile/14E304 Safari/602.1",
        "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
        "Valve/Steam HTTP Client 1.0",
    ]
)
URIS = np.array(
    ["/", "/index.html", "/video/play?id=", "/api/v1/feed?since=", "/static/js/app.js?v=",
     "/images/banner.jpg?ts=", "/search?q=", "/update/manifest.xml?rev="]
)  # fmt: skip
STATUS = np.array([200, 200, 200, 200, 200, 200, 200, 200, 200, 304, 304, 404, 302])
STATUS_MSG = {200: "OK", 304: "Not Modified", 404: "Not Found", 302: "Found"}
SCAN_PORTS = np.array([22, 23, 445, 3389, 8080, 21, 25, 1433, 5900, 81])
B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)


@dataclass
class Batch:
    conn: pl.DataFrame
    dns: pl.DataFrame
    ssl: pl.DataFrame
    http: pl.DataFrame
    truth: pl.DataFrame


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection, so distinct counters give distinct uids."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


def make_uids(rng, counter: np.ndarray) -> pl.Series:
    """Zeek-looking uids ("C" + 17 base62 chars), unique for distinct counters."""
    n = len(counter)
    out = np.empty((n, 18), np.uint8)
    out[:, 0] = ord("C")
    v = _mix64(counter)
    for i in range(11):  # 62**11 > 2**64: the whole counter image fits
        out[:, 1 + i] = B62[(v % np.uint64(62)).astype(np.int64)]
        v = v // np.uint64(62)
    out[:, 12:] = B62[rng.integers(0, 62, (n, 6))]
    return pl.Series("uid", out.view("S18").ravel()).cast(pl.String)


def _lognormal(rng, params: np.ndarray, idx: np.ndarray) -> np.ndarray:
    med, sig = params[idx, 0], params[idx, 1]
    return np.exp(np.log(med) + sig * rng.standard_normal(len(idx)))


def _pick(rng, cum: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Categorical draw per row from per-row cumulative probabilities cum[idx]."""
    u = rng.random(len(idx))[:, None]
    return (u >= cum[idx]).sum(axis=1)


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
    def generate(
        self, day: dt.date, slice_no: int, hour_lo: int, hour_hi: int, last: bool
    ) -> Batch:
        rng = np.random.default_rng([self.seed, day.toordinal(), slice_no])
        mins = self.minutes(day)[hour_lo * 60 : hour_hi * 60]
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
        if last and self.spd > 0 and self.sc.long_connections_per_day and len(self.long_idx):
            s = _concat(s, self._long(rng, day, hour_lo))
        i = self._inbound(rng, ts[inbound])
        planted = self.planted_day(day)
        day0 = (day - EPOCH).days * DAY_US
        in_slice = (planted.ts >= day0 + hour_lo * 3600 * US) & (
            planted.ts < day0 + hour_hi * 3600 * US
        )
        return self._records(rng, day, slice_no, s, i, planted.select(np.flatnonzero(in_slice)))

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

    def _long(self, rng, day: dt.date, hour_lo: int) -> dict:
        """Sessions that run past midnight: logged in the next day's first hourly file."""
        k = self.sc.long_connections_per_day
        next_midnight = ((day - EPOCH).days + 1) * DAY_US
        end = next_midnight + rng.integers(5 * 60 * US, 55 * 60 * US, k)
        lo = np.maximum(end - 5 * 3600 * US, (day - EPOCH).days * DAY_US + hour_lo * 3600 * US + US)
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

    # ---- records ------------------------------------------------------------------------------
    def _records(self, rng, day: dt.date, slice_no: int, s: dict, i: dict, p: PlantedDay) -> Batch:
        pop = self.pop
        n_out, n_in = len(s["ts"]), len(i["ts"])
        dns_rows = np.flatnonzero(s["dns"])
        n_dns = len(dns_rows)
        n_conn = n_out + n_in + n_dns
        base = (np.uint64(day.toordinal()) << np.uint64(40)) | (
            np.uint64(slice_no) << np.uint64(34)
        )
        uid = make_uids(rng, base + np.arange(n_conn, dtype=np.uint64))
        uid_out, uid_in, uid_dns = uid[:n_out], uid[n_out : n_out + n_in], uid[n_out + n_in :]

        # -- outbound connections
        tcp = ~s["udp"]
        s0 = s["s0"]
        app = np.where(s["transport"] == 0, "ssl", np.where(s["transport"] == 1, "http", "-"))
        app = np.where((s["kind"] == 2) & (s["resp_p"] == 123) & s["udp"], "ntp", app)
        hostname = self.host_name.gather(np.maximum(s["host"], 0))  # only read where named
        out_conn = _conn_frame(
            rng, s["ts"], uid_out, s["orig"], s["resp"], s["resp_p"], tcp, app,
            np.where(s0, -1, s["dur"]), np.where(s0, -1, s["orig_b"]),
            np.where(s0, -1, s["resp_b"]), np.where(s0, "S0", "SF"), True, False,
        )  # fmt: skip

        # -- inbound connections
        in_app = np.where(i["tls"], "ssl", np.where(i["http"], "http", "-"))
        in_conn = _conn_frame(
            rng, i["ts"], uid_in, i["orig"], i["resp"], i["resp_p"], np.ones(n_in, bool),
            in_app, i["dur"], np.where(i["scan"], 0, i["orig_b"]),
            np.where(i["scan"], 0, i["resp_b"]), np.where(i["scan"], "REJ", "SF"), False, True,
        )  # fmt: skip

        # -- DNS lookups before named connections, by the same client, to its resolver
        d_ts = s["ts"][dns_rows] - rng.integers(20_000, 400_000, n_dns)
        rtt = rng.integers(500, 19_000, n_dns)
        h = s["host"][dns_rows]
        query = self.host_name.gather(h)
        first = s["resp"][dns_rows]
        other = pop.host_ips[h, 1 - s["pick2"][dns_rows]] if n_dns else first
        ttl = pop.host_ttl[h] if n_dns else np.empty(0, np.int64)
        qlen = query.str.len_bytes().to_numpy().astype(np.int64) if n_dns else np.empty(0, int)
        dns_conn = _conn_frame(
            rng, d_ts, uid_dns, s["orig"][dns_rows], s["resolver"][dns_rows],
            np.full(n_dns, 53), np.zeros(n_dns, bool), np.full(n_dns, "dns"), rtt,
            qlen + 18, qlen + 18 + 32, np.full(n_dns, "SF"), True, True,
        )  # fmt: skip
        ttl_us = pl.Series(ttl.astype(np.int64) * US)
        dns = pl.DataFrame(
            {
                "ts": d_ts,
                "uid": uid_dns,
                "id.orig_h": dns_conn["id.orig_h"],
                "id.orig_p": dns_conn["id.orig_p"],
                "id.resp_h": dns_conn["id.resp_h"],
                "id.resp_p": np.full(n_dns, 53, np.int64),
                "proto": np.full(n_dns, "udp"),
                "trans_id": rng.integers(0, 65536, n_dns),
                "rtt": rtt,
                "query": query,
                "qclass": np.ones(n_dns, np.int64),
                "qclass_name": np.full(n_dns, "C_INTERNET"),
                "qtype": np.ones(n_dns, np.int64),
                "qtype_name": np.full(n_dns, "A"),
                "rcode": np.zeros(n_dns, np.int64),
                "rcode_name": np.full(n_dns, "NOERROR"),
                "AA": np.zeros(n_dns, bool),
                "TC": np.zeros(n_dns, bool),
                "RD": np.ones(n_dns, bool),
                "RA": np.ones(n_dns, bool),
                "Z": np.zeros(n_dns, np.int64),
                "_a1": ips_to_str(first),
                "_a2": ips_to_str(other),
                "_ttl": ttl_us,
                "rejected": np.zeros(n_dns, bool),
                "_end": d_ts + rtt,
            }
        ).with_columns(
            answers=pl.concat_list("_a1", "_a2"),
            TTLs=pl.concat_list("_ttl", "_ttl"),
        ).drop("_a1", "_a2", "_ttl")  # fmt: skip
        dns = dns.select([*DNS_ORDER, "_end"])

        # -- TLS handshakes (SNI) and HTTP requests (Host)
        tls_o = np.flatnonzero(s["transport"] == 0)
        tls_i = np.flatnonzero(i["tls"])
        ssl = _ssl_frame(
            rng,
            pl.concat([out_conn[tls_o], in_conn[tls_i]]),
            pl.concat([hostname.gather(tls_o), i["hostname"].gather(tls_i)]),
            np.concatenate([s["dur"][tls_o], i["dur"][tls_i]]),
        )
        http_o = np.flatnonzero(s["transport"] == 1)
        http_i = np.flatnonzero(i["http"])
        http = _http_frame(
            rng,
            pl.concat([out_conn[http_o], in_conn[http_i]]),
            pl.concat([hostname.gather(http_o), i["hostname"].gather(http_i)]),
            np.concatenate([s["orig_b"][http_o], i["orig_b"][http_i]]),
            np.concatenate([s["resp_b"][http_o], i["resp_b"][http_i]]),
            np.concatenate([s["dur"][http_o], i["dur"][http_i]]),
        )

        # -- planted scanner probes and beacon check-ins: bare TCP, no hostname anywhere.
        # Their own generator and uid counters keep the other records as they were.
        n_pl = len(p)
        prng = np.random.default_rng([self.seed, 0x706C6E74, day.toordinal(), slice_no])
        pl_uid = make_uids(prng, base + np.uint64(n_conn) + np.arange(n_pl, dtype=np.uint64))
        planted_conn = _conn_frame(
            prng, p.ts, pl_uid, p.orig, p.resp, p.resp_p, np.ones(n_pl, bool),
            np.full(n_pl, "-"), p.dur, p.orig_b, p.resp_b, p.state, ~p.inbound, p.inbound,
        )  # fmt: skip

        conn = pl.concat([out_conn, in_conn, dns_conn, planted_conn])
        # -- what the pipeline should conclude about each conn record
        svc = s["svc"]
        remote = np.concatenate(
            [s["resp"], i["orig"], np.zeros(n_dns, np.int64), np.where(p.inbound, p.orig, p.resp)]
        )
        country = pop.country_of(remote)
        country[n_out + n_in : n_conn] = ""
        truth = pl.DataFrame(
            {
                "ts": conn["ts"],
                "direction": np.concatenate(
                    [
                        np.full(n_out, "outbound"),
                        np.full(n_in, "inbound"),
                        np.full(n_dns, "internal"),
                        np.where(p.inbound, "inbound", "outbound"),
                    ]
                ),  # fmt: skip
                "service_id": np.concatenate(
                    [
                        self.svc_ids[svc],
                        self.server_ids[i["server"]],
                        np.full(n_dns, ""),
                        np.full(n_pl, ""),
                    ]
                ),  # fmt: skip
                "service": np.concatenate(
                    [
                        self.svc_names[svc],
                        self.server_names[i["server"]],
                        np.full(n_dns, ""),
                        np.full(n_pl, "Unknown"),
                    ]
                ),  # fmt: skip
                "category": np.concatenate(
                    [
                        self.svc_cats[svc],
                        self.server_cats[i["server"]],
                        np.full(n_dns, ""),
                        np.full(n_pl, "unknown"),
                    ]
                ),  # fmt: skip
                "remote_country": country,
            }
        )
        return Batch(conn=conn, dns=dns, ssl=ssl, http=http, truth=truth)


def _concat(a: dict, b: dict) -> dict:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


CONN_ORDER = [
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
    "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp",
    "missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
    "tunnel_parents",
]  # fmt: skip
DNS_ORDER = [
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "trans_id", "rtt",
    "query", "qclass", "qclass_name", "qtype", "qtype_name", "rcode", "rcode_name", "AA", "TC",
    "RD", "RA", "Z", "answers", "TTLs", "rejected",
]  # fmt: skip


def _conn_frame(
    rng, ts, uid, orig, resp, resp_p, tcp, app, dur, ob, rb, state, local_orig, local_resp
) -> pl.DataFrame:
    """conn records; -1 in dur/ob/rb means unset (a lone SYN has no duration or sizes)."""
    n = len(ts)
    ts = np.asarray(ts, np.int64)
    tcp = np.asarray(tcp, bool)
    ob, rb, dur = np.asarray(ob), np.asarray(rb), np.asarray(dur)
    state = np.asarray(state)
    unset = dur < 0
    seg = np.where(tcp, 1400, 1200)
    opk = np.where(unset, 1, ob // seg + np.where(tcp, 3, 1))
    rpk = np.where(unset, 0, rb // seg + np.where(tcp, 2, 1))
    opk = np.where(state == "REJ", 1, opk)
    rpk = np.where(state == "REJ", 1, rpk)
    hdr = np.where(tcp, 40, 28)
    hist = np.where(tcp, "ShADadFf", "Dd")
    hist = np.where(state == "S0", "S", np.where(state == "REJ", "Sr", hist))
    end = ts + np.maximum(dur, 0)
    df = pl.DataFrame(
        {
            "ts": ts,
            "uid": uid,
            "id.orig_h": ips_to_str(orig),
            "id.orig_p": rng.integers(49152, 65536, n),
            "id.resp_h": ips_to_str(resp),
            "id.resp_p": np.asarray(resp_p, np.int64),
            "proto": np.where(tcp, "tcp", "udp"),
            "service": np.asarray(app, dtype=str),
            "duration": dur,
            "orig_bytes": ob.astype(np.int64),
            "resp_bytes": rb.astype(np.int64),
            "conn_state": state,
            "local_orig": np.full(n, local_orig),
            "local_resp": np.full(n, local_resp),
            "missed_bytes": np.zeros(n, np.int64),
            "history": hist,
            "orig_pkts": opk.astype(np.int64),
            "orig_ip_bytes": (np.maximum(ob, 0) + opk * hdr).astype(np.int64),
            "resp_pkts": rpk.astype(np.int64),
            "resp_ip_bytes": (np.maximum(rb, 0) + rpk * hdr).astype(np.int64),
            "_end": end,
        },
    ).with_columns(
        pl.when(pl.col("service") == "-").then(None).otherwise(pl.col("service")).alias("service"),
        *[
            pl.when(pl.col(c) < 0).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("duration", "orig_bytes", "resp_bytes")
        ],
        pl.lit(None, pl.List(pl.String)).alias("tunnel_parents"),
    )
    return df.select([*CONN_ORDER, "_end"])


SSL_ORDER = [
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "version", "cipher",
    "curve", "server_name", "resumed", "last_alert", "next_protocol", "established",
    "ssl_history", "cert_chain_fps", "client_cert_chain_fps", "sni_matches_cert",
]  # fmt: skip


def _ssl_frame(rng, conn: pl.DataFrame, hostname: np.ndarray, dur: np.ndarray) -> pl.DataFrame:
    n = conn.height
    ts = conn["ts"].to_numpy() + np.minimum(rng.integers(5_000, 150_000, n), dur // 3)
    resumed = rng.random(n) < 0.2
    alpn = ALPN[rng.integers(0, len(ALPN), n)]
    return pl.DataFrame(
        {
            "ts": ts,
            "uid": conn["uid"],
            "id.orig_h": conn["id.orig_h"],
            "id.orig_p": conn["id.orig_p"],
            "id.resp_h": conn["id.resp_h"],
            "id.resp_p": conn["id.resp_p"],
            "version": TLS_VERSIONS[rng.integers(0, len(TLS_VERSIONS), n)],
            "cipher": CIPHERS[rng.integers(0, len(CIPHERS), n)],
            "curve": CURVES[rng.integers(0, len(CURVES), n)],
            "server_name": hostname,
            "resumed": resumed,
            "last_alert": pl.Series([None] * n, dtype=pl.String),
            "next_protocol": pl.select(
                pl.when(pl.Series(alpn) == "-").then(None).otherwise(pl.Series(alpn))
            ).to_series(),
            "established": np.ones(n, bool),
            "ssl_history": np.where(resumed, "CsIi", "CsxknGIi"),
            "_end": ts,
        }
    ).with_columns(
        pl.lit(None, pl.List(pl.String)).alias("cert_chain_fps"),
        pl.lit(None, pl.List(pl.String)).alias("client_cert_chain_fps"),
        pl.when(pl.col("resumed")).then(None).otherwise(True).alias("sni_matches_cert"),
    ).select([*SSL_ORDER, "_end"])  # fmt: skip


HTTP_ORDER = [
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "trans_depth", "method",
    "host", "uri", "referrer", "version", "user_agent", "origin", "request_body_len",
    "response_body_len", "status_code", "status_msg", "info_code", "info_msg", "tags",
    "username", "password", "proxied", "orig_fuids", "orig_filenames", "orig_mime_types",
    "resp_fuids", "resp_filenames", "resp_mime_types",
]  # fmt: skip


def _http_frame(rng, conn, hostname, ob, rb, dur) -> pl.DataFrame:
    n = conn.height
    ts = conn["ts"].to_numpy() + np.minimum(rng.integers(2_000, 90_000, n), dur // 3)
    post = rng.random(n) < 0.1
    status = np.where(post, 200, STATUS[rng.integers(0, len(STATUS), n)])
    body = np.where(status == 304, 0, (rb * 0.93).astype(np.int64))
    path = pl.Series(URIS[rng.integers(0, len(URIS), n)])
    num = pl.Series(rng.integers(1000, 999999, n)).cast(pl.String)
    uri = pl.select(pl.when(path.str.ends_with("=")).then(path + num).otherwise(path)).to_series()
    mime = pl.select(
        pl.when(pl.Series(status) == 304).then(None).otherwise(pl.lit("text/html"))
    ).to_series()
    return pl.DataFrame(
        {
            "ts": ts,
            "uid": conn["uid"],
            "id.orig_h": conn["id.orig_h"],
            "id.orig_p": conn["id.orig_p"],
            "id.resp_h": conn["id.resp_h"],
            "id.resp_p": conn["id.resp_p"],
            "trans_depth": np.ones(n, np.int64),
            "method": np.where(post, "POST", "GET"),
            "host": hostname,
            "uri": uri,
            "version": np.full(n, "1.1"),
            "user_agent": USER_AGENTS[rng.integers(0, len(USER_AGENTS), n)],
            "request_body_len": np.where(post, (ob * 0.8).astype(np.int64), 0),
            "response_body_len": body,
            "status_code": status,
            "status_msg": pl.Series(status).replace_strict(STATUS_MSG, return_dtype=pl.String),
            "_mime": mime,
            "_end": ts,
        }
    ).with_columns(
        pl.lit(None, pl.String).alias("referrer"),
        pl.lit(None, pl.String).alias("origin"),
        pl.lit(None, pl.Int64).alias("info_code"),
        pl.lit(None, pl.String).alias("info_msg"),
        pl.lit([], pl.List(pl.String)).alias("tags"),
        pl.lit(None, pl.String).alias("username"),
        pl.lit(None, pl.String).alias("password"),
        pl.lit(None, pl.List(pl.String)).alias("proxied"),
        pl.lit(None, pl.List(pl.String)).alias("orig_fuids"),
        pl.lit(None, pl.List(pl.String)).alias("orig_filenames"),
        pl.lit(None, pl.List(pl.String)).alias("orig_mime_types"),
        pl.lit(None, pl.List(pl.String)).alias("resp_fuids"),
        pl.lit(None, pl.List(pl.String)).alias("resp_filenames"),
        pl.when(pl.col("_mime").is_null()).then(None)
        .otherwise(pl.concat_list("_mime")).alias("resp_mime_types"),
    ).select([*HTTP_ORDER, "_end"])  # fmt: skip
