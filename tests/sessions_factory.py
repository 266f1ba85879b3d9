"""Categorised-sessions frames for tests, following the sessions contract exactly
(docs/architecture.md, "Categorised sessions")."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

SESSIONS_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "uid": pl.String,
    "sensor": pl.String,
    "orig_h": pl.String,
    "resp_h": pl.String,
    "orig_p": pl.Int32,
    "resp_p": pl.Int32,
    "proto": pl.String,
    "app_protocol": pl.String,
    "duration": pl.Float64,
    "orig_bytes": pl.Int64,
    "resp_bytes": pl.Int64,
    "bytes_total": pl.Int64,
    "conn_state": pl.String,
    "direction": pl.String,
    "network": pl.String,
    "local_ip": pl.String,
    "remote_ip": pl.String,
    "remote_country": pl.String,
    "hostname": pl.String,
    "hostname_source": pl.String,
    "registered_domain": pl.String,
    "service": pl.String,
    "category": pl.String,
    "match_source": pl.String,
    "local_date": pl.Date,
    "local_hour": pl.Int8,
    "local_weekday": pl.Int8,
}

# (service, category, registered_domain, remote_country, resp_p, weight)
CATALOGUE = [
    ("YouTube", "streaming", "youtube.com", "US", 443, 30),
    ("Steam", "gaming", "steampowered.com", "US", 27015, 20),
    ("Facebook", "social", "facebook.com", "US", 443, 12),
    ("Google", "search", "google.com", "US", 443, 10),
    ("Baidu", "search", "baidu.com", "CN", 443, 8),
    ("Alibaba", "ecommerce", "alibaba.com", "CN", 443, 5),
    ("NordVPN", "obfuscation", "nordvpn.com", "PA", 1194, 1),
    ("Bitcoin", "crypto", None, "DE", 8333, 1),
    ("Unknown", "unknown", None, None, 443, 6),
]
LOCAL_IPS = [f"175.45.176.{i}" for i in range(1, 41)]
NETWORK = "Star JV"
TZ = "Asia/Pyongyang"


def sessions_frame(columns: dict, *, tz: str = TZ) -> pl.DataFrame:
    """A sessions frame from the given columns (lists of equal length, `ts` required).

    Unset columns get plausible defaults; local_date/hour/weekday derive from ts in `tz`
    through the zone database; bytes_total = orig + resp (nulls as 0).
    """
    n = len(columns["ts"])
    df = pl.DataFrame({"ts": columns["ts"]}).with_columns(
        pl.col("ts").cast(pl.Datetime("us", "UTC"))
    )
    defaults = {
        "uid": [f"C{i:08d}" for i in range(n)],
        "sensor": "s1",
        "proto": "tcp",
        "app_protocol": "ssl",
        "duration": 1.5,
        "orig_bytes": 500,
        "resp_bytes": 5000,
        "conn_state": "SF",
        "direction": "outbound",
        "network": NETWORK,
        "local_ip": LOCAL_IPS[0],
        "remote_ip": "93.184.216.34",
        "remote_country": "US",
        "resp_p": 443,
        "orig_p": 50000,
        "hostname": None,
        "hostname_source": "none",
        "registered_domain": None,
        "service": "Unknown",
        "category": "unknown",
        "match_source": "none",
    }
    for name, default in defaults.items():
        value = columns.get(name, default)
        dtype = SESSIONS_SCHEMA[name]
        series = (
            pl.Series(name, value, dtype=dtype)
            if isinstance(value, list | np.ndarray)
            else pl.repeat(value, n, dtype=dtype, eager=True).alias(name)
        )
        df = df.with_columns(series)
    inbound = pl.col("direction") == "inbound"
    local = pl.col("ts").dt.convert_time_zone(tz)
    df = df.with_columns(
        pl.when(inbound).then(pl.col("remote_ip")).otherwise(pl.col("local_ip")).alias("orig_h"),
        pl.when(inbound).then(pl.col("local_ip")).otherwise(pl.col("remote_ip")).alias("resp_h"),
        (pl.col("orig_bytes").fill_null(0) + pl.col("resp_bytes").fill_null(0)).alias(
            "bytes_total"
        ),
        local.dt.date().alias("local_date"),
        local.dt.hour().cast(pl.Int8).alias("local_hour"),
        local.dt.weekday().cast(pl.Int8).alias("local_weekday"),
    )
    return df.select([pl.col(c).cast(t) for c, t in SESSIONS_SCHEMA.items()])


def make_sessions(day: dt.date, n: int = 2000, *, seed: int = 0) -> pl.DataFrame:
    """n random sessions on UTC `day`: mostly outbound from the catalogue, some inbound from
    foreign sources, a few internal and transit; local hours peak in the local morning."""
    rng = np.random.default_rng(seed)
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    # Pyongyang is UTC+08:30; 08:00-09:00 local is 23:30-00:30 UTC, so peak near UTC midnight.
    peak = rng.random(n) < 0.3
    secs = np.where(peak, rng.integers(0, 1800, n), rng.integers(0, 86400, n))
    ts = [
        start + dt.timedelta(seconds=int(s), microseconds=int(u))
        for s, u in zip(secs, rng.integers(0, 10**6, n), strict=True)
    ]
    weights = np.array([c[5] for c in CATALOGUE], dtype=float)
    pick = rng.choice(len(CATALOGUE), n, p=weights / weights.sum())
    direction = rng.choice(
        ["outbound", "inbound", "internal", "transit"], n, p=[0.85, 0.1, 0.03, 0.02]
    )
    cat = [CATALOGUE[i] for i in pick]
    inbound_country = rng.choice(["IN", "CN", "US", "KP"], n, p=[0.2, 0.5, 0.2, 0.1])
    out = direction == "outbound"
    cols = {
        "ts": ts,
        "direction": list(direction),
        "local_ip": [
            None if d == "transit" else LOCAL_IPS[i]
            for d, i in zip(direction, rng.integers(0, len(LOCAL_IPS), n), strict=True)
        ],
        "network": [None if d == "transit" else NETWORK for d in direction],
        "remote_ip": [f"203.0.{a}.{b}" for a, b in rng.integers(1, 250, (n, 2))],
        "resp_p": [c[4] if o else 80 for c, o in zip(cat, out, strict=True)],
        "service": [c[0] if o else "Unknown" for c, o in zip(cat, out, strict=True)],
        "category": [c[1] if o else "unknown" for c, o in zip(cat, out, strict=True)],
        "registered_domain": [c[2] if o else None for c, o in zip(cat, out, strict=True)],
        "hostname": [f"www.{c[2]}" if o and c[2] else None for c, o in zip(cat, out, strict=True)],
        "hostname_source": ["sni" if o and c[2] else "none" for c, o in zip(cat, out, strict=True)],
        "match_source": [
            ("domain" if c[2] else "port") if o and c[1] != "unknown" else "none"
            for c, o in zip(cat, out, strict=True)
        ],
        "remote_country": [
            c[3] if d == "outbound" else (ic if d == "inbound" else None)
            for c, d, ic in zip(cat, direction, inbound_country, strict=True)
        ],
        "orig_bytes": rng.integers(100, 5_000, n),
        "resp_bytes": rng.integers(100, 500_000, n),
        "duration": rng.exponential(20.0, n),
        "conn_state": list(rng.choice(["SF", "S1", "RSTO"], n, p=[0.9, 0.07, 0.03])),
    }
    return sessions_frame(cols)


def beacon_sessions(
    day: dt.date,
    *,
    local_ip: str = "175.45.176.77",
    remote_ip: str = "198.51.100.7",
    resp_p: int = 8443,
    every_s: float = 300.0,
    count: int = 48,
    jitter_s: float = 5.0,
    seed: int = 1,
) -> pl.DataFrame:
    """An outbound beacon: `count` connections every `every_s` seconds (+- uniform jitter)."""
    rng = np.random.default_rng(seed)
    start = dt.datetime.combine(day, dt.time(1), dt.UTC)
    offsets = np.arange(count) * every_s + rng.uniform(-jitter_s, jitter_s, count)
    return sessions_frame(
        {
            "ts": [start + dt.timedelta(seconds=float(o)) for o in offsets],
            "local_ip": local_ip,
            "remote_ip": remote_ip,
            "resp_p": resp_p,
            "remote_country": "NL",
            "orig_bytes": 300,
            "resp_bytes": 200,
        }
    )


def scan_sessions(
    day: dt.date,
    *,
    remote_ip: str = "192.0.2.66",
    targets: int = 40,
    ports: tuple[int, ...] = (22, 23, 80, 443, 3389),
    state: str = "S0",
) -> pl.DataFrame:
    """An inbound sweep: one remote source probing `targets` local addresses on `ports`."""
    start = dt.datetime.combine(day, dt.time(3), dt.UTC)
    hosts = [f"175.45.177.{i}" for i in range(1, targets + 1)]
    pairs = [(h, p) for h in hosts for p in ports]
    return sessions_frame(
        {
            "ts": [start + dt.timedelta(milliseconds=10 * i) for i in range(len(pairs))],
            "direction": "inbound",
            "local_ip": [h for h, _ in pairs],
            "resp_p": [p for _, p in pairs],
            "remote_ip": remote_ip,
            "remote_country": "CN",
            "conn_state": state,
            "orig_bytes": 0,
            "resp_bytes": 0,
            "duration": None,
            "app_protocol": None,
        }
    )
