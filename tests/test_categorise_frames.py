"""Builders of validated-shaped conn/dns/ssl/http frames for the categorisation tests.

Other test_categorise_* files import these (tests/ is on sys.path under pytest).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import polars as pl

try:
    from assets.validated.schemas import VALIDATED_SCHEMAS
except ImportError:  # pragma: no cover - the validated layer not there yet
    VALIDATED_SCHEMAS = {}

T0 = dt.datetime(2017, 5, 17, 0, 30, tzinfo=dt.UTC)
CLIENT = "175.45.176.10"


def _schema(table: str, extra: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    return dict(VALIDATED_SCHEMAS.get(table) or extra)


_FALLBACK = {
    "conn": {
        "ts": pl.Datetime("us", "UTC"),
        "uid": pl.String,
        "id_orig_h": pl.String,
        "id_orig_p": pl.Int32,
        "id_resp_h": pl.String,
        "id_resp_p": pl.Int32,
        "proto": pl.String,
        "service": pl.String,
        "duration": pl.Float64,
        "orig_bytes": pl.Int64,
        "resp_bytes": pl.Int64,
        "conn_state": pl.String,
        "sensor": pl.String,
    },
    "dns": {
        "ts": pl.Datetime("us", "UTC"),
        "uid": pl.String,
        "id_orig_h": pl.String,
        "id_orig_p": pl.Int32,
        "id_resp_h": pl.String,
        "id_resp_p": pl.Int32,
        "query": pl.String,
        "answers": pl.List(pl.String),
        "ttls": pl.List(pl.Float64),
        "sensor": pl.String,
    },
    "ssl": {
        "ts": pl.Datetime("us", "UTC"),
        "uid": pl.String,
        "id_orig_h": pl.String,
        "id_orig_p": pl.Int32,
        "id_resp_h": pl.String,
        "id_resp_p": pl.Int32,
        "server_name": pl.String,
        "sensor": pl.String,
    },
    "http": {
        "ts": pl.Datetime("us", "UTC"),
        "uid": pl.String,
        "id_orig_h": pl.String,
        "id_orig_p": pl.Int32,
        "id_resp_h": pl.String,
        "id_resp_p": pl.Int32,
        "host": pl.String,
        "sensor": pl.String,
    },
}


def frame(table: str, rows: list[dict]) -> pl.DataFrame:
    """Rows (dicts of some columns) -> a frame with every validated column of ``table``."""
    schema = _schema(table, _FALLBACK[table])
    filled = [{c: r.get(c) for c in schema} for r in rows]
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(filled, schema=schema, orient="row")


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def conn(uid, resp_h, resp_p=443, *, t=100.0, orig_h=CLIENT, proto="tcp", nbytes=(100, 1000)):
    return {
        "ts": at(t),
        "uid": uid,
        "id_orig_h": orig_h,
        "id_orig_p": 50000,
        "id_resp_h": resp_h,
        "id_resp_p": resp_p,
        "proto": proto,
        "service": None,
        "duration": 1.5,
        "orig_bytes": nbytes[0],
        "resp_bytes": nbytes[1],
        "conn_state": "SF",
        "sensor": "s1",
    }


def dns(query, answers, ttls=None, *, t=50.0, client=CLIENT, uid="D1"):
    return {
        "ts": at(t),
        "uid": uid,
        "id_orig_h": client,
        "id_orig_p": 53000,
        "id_resp_h": "8.8.8.8",
        "id_resp_p": 53,
        "query": query,
        "answers": answers,
        "ttls": ttls if ttls is not None else [300.0] * len(answers),
        "sensor": "s1",
    }


def ssl(uid, server_name, *, t=100.0):
    return {
        "ts": at(t),
        "uid": uid,
        "id_orig_h": CLIENT,
        "server_name": server_name,
        "sensor": "s1",
    }


def http(uid, host, *, t=100.0):
    return {"ts": at(t), "uid": uid, "id_orig_h": CLIENT, "host": host, "sensor": "s1"}


@lru_cache(maxsize=1)
def reference():
    from assets.reference.loaders import load_reference

    return load_reference()


def run(conns, dnss=(), ssls=(), https=(), **kw):
    """categorise() over row dicts; returns the sessions frame."""
    from assets.categorised.sessions import categorise

    return categorise(
        frame("conn", list(conns)),
        frame("dns", list(dnss)),
        frame("ssl", list(ssls)),
        frame("http", list(https)),
        reference=reference(),
        **kw,
    ).sessions


def test_builders_follow_the_validated_columns():
    for table in ("conn", "dns", "ssl", "http"):
        f = frame(table, [])
        assert {"ts", "uid", "id_orig_h", "id_resp_h"} <= set(f.columns)
    assert frame("dns", [dns("a.com", ["1.2.3.4"])]).schema["answers"] == pl.List(pl.String)
