"""The Zeek records a slice's sessions leave, log by log (conn, ssl, http columns in Zeek's
order), and Zeek-looking uids."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from assets.simulate.population import ips_to_str

US = 1_000_000  # times are int64 microseconds since the epoch
DAY_US = 86_400 * US
EPOCH = dt.date(1970, 1, 1)

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
B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)


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
