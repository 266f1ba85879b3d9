"""One slice's sessions turned into the Zeek records they leave: conn (outbound, inbound, the
DNS lookups before them, planted suspect activity), dns, ssl, http, and one truth row per conn
record with what the pipeline should conclude about it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from assets.simulate.population import ips_to_str
from assets.simulate.suspect import PlantedDay
from assets.simulate.zeek_frames import (
    DNS_ORDER,
    US,
    _conn_frame,
    _http_frame,
    _ssl_frame,
    make_uids,
)


@dataclass
class Batch:
    conn: pl.DataFrame
    dns: pl.DataFrame
    ssl: pl.DataFrame
    http: pl.DataFrame
    truth: pl.DataFrame


def slice_records(
    gen, rng, day: dt.date, slice_no: int, base: np.uint64, s: dict, i: dict, p: PlantedDay
) -> Batch:
    """The Zeek records (and their truth) of one slice's outbound `s`, inbound `i` and planted
    `p` sessions; `gen` is the DayGenerator that drew them, `base` the slice's first uid
    counter."""
    pop = gen.pop
    n_out, n_in = len(s["ts"]), len(i["ts"])
    dns_rows = np.flatnonzero(s["dns"])
    n_dns = len(dns_rows)
    n_conn = n_out + n_in + n_dns
    uid = make_uids(rng, base + np.arange(n_conn, dtype=np.uint64))
    uid_out, uid_in, uid_dns = uid[:n_out], uid[n_out : n_out + n_in], uid[n_out + n_in :]

    # -- outbound connections
    tcp = ~s["udp"]
    s0 = s["s0"]
    app = np.where(s["transport"] == 0, "ssl", np.where(s["transport"] == 1, "http", "-"))
    app = np.where((s["kind"] == 2) & (s["resp_p"] == 123) & s["udp"], "ntp", app)
    hostname = gen.host_name.gather(np.maximum(s["host"], 0))  # only read where named
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
    query = gen.host_name.gather(h)
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
    prng = np.random.default_rng([gen.seed, 0x706C6E74, day.toordinal(), slice_no])
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
                    gen.svc_ids[svc],
                    gen.server_ids[i["server"]],
                    np.full(n_dns, ""),
                    np.full(n_pl, ""),
                ]
            ),  # fmt: skip
            "service": np.concatenate(
                [
                    gen.svc_names[svc],
                    gen.server_names[i["server"]],
                    np.full(n_dns, ""),
                    np.full(n_pl, "Unknown"),
                ]
            ),  # fmt: skip
            "category": np.concatenate(
                [
                    gen.svc_cats[svc],
                    gen.server_cats[i["server"]],
                    np.full(n_dns, ""),
                    np.full(n_pl, "unknown"),
                ]
            ),  # fmt: skip
            "remote_country": country,
        }
    )
    return Batch(conn=conn, dns=dns, ssl=ssl, http=http, truth=truth)
