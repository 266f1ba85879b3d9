"""Direction, monitored-network label, local/remote side and local time.

A side is local when its address falls in a monitored network (most specific block
wins). Local time uses each network's IANA zone through polars' zone database, never a
fixed offset (Asia/Pyongyang was UTC+08:30 from August 2015 to May 2018).
"""

from __future__ import annotations

import polars as pl

from assets.core.addresses import ip_keys
from assets.reference.loaders import Networks


def _network_of(key: pl.Expr, networks: Networks, attr: str) -> pl.Expr:
    expr = pl.lit(None, dtype=pl.String)
    # networks are ordered most specific first; build the chain so the first one wins
    for n in reversed(networks.networks):
        inside = key.is_between(
            pl.lit(n.ip_first, dtype=pl.UInt128), pl.lit(n.ip_last, dtype=pl.UInt128)
        )
        expr = pl.when(inside).then(pl.lit(getattr(n, attr))).otherwise(expr)
    return expr


def add_direction(frame: pl.DataFrame, networks: Networks) -> pl.DataFrame:
    """Add direction, network, local_ip, remote_ip, local_date, local_hour, local_weekday.

    outbound: originator monitored, responder not; inbound: the reverse; internal: both
    (network/local side = originator's); transit: neither (network and local_ip null,
    remote_ip = responder, local time in the first listed network's zone).
    """
    # classify each distinct address once, then join back to both sides
    addrs = pl.concat(
        [frame.select(_ip=pl.col("orig_h")), frame.select(_ip=pl.col("resp_h"))]
    ).unique()
    addrs = ip_keys(addrs, "_ip").select(
        "_ip",
        _label=_network_of(pl.col("_key"), networks, "label"),
        _tz=_network_of(pl.col("_key"), networks, "timezone"),
    )
    side = {"_label": "_o_label", "_tz": "_o_tz", "_ip": "orig_h"}
    out = frame.join(addrs.rename(side), on="orig_h", how="left", maintain_order="left")
    side = {"_label": "_r_label", "_tz": "_r_tz", "_ip": "resp_h"}
    out = out.join(addrs.rename(side), on="resp_h", how="left", maintain_order="left")
    o_in, r_in = pl.col("_o_label").is_not_null(), pl.col("_r_label").is_not_null()
    out = out.with_columns(
        direction=pl.when(o_in & r_in)
        .then(pl.lit("internal"))
        .when(o_in)
        .then(pl.lit("outbound"))
        .when(r_in)
        .then(pl.lit("inbound"))
        .otherwise(pl.lit("transit")),
        network=pl.coalesce("_o_label", "_r_label"),
        local_ip=pl.when(o_in).then(pl.col("orig_h")).when(r_in).then(pl.col("resp_h")),
        remote_ip=pl.when(o_in | ~r_in).then(pl.col("resp_h")).otherwise(pl.col("orig_h")),
        _tz=pl.coalesce("_o_tz", "_r_tz", pl.lit(networks.default_timezone)),
    )
    return add_local_time(out, "_tz").drop("_o_label", "_r_label", "_o_tz", "_r_tz", "_tz")


def add_local_time(frame: pl.DataFrame, tz_col: str) -> pl.DataFrame:
    """local_date / local_hour / local_weekday of ``ts`` in the zone named by ``tz_col``."""
    zones = frame.get_column(tz_col).unique().drop_nulls().to_list()
    local = pl.lit(None, dtype=pl.Datetime("us"))
    for tz in sorted(zones):
        wall = pl.col("ts").dt.convert_time_zone(tz).dt.replace_time_zone(None)
        local = pl.when(pl.col(tz_col) == tz).then(wall).otherwise(local)
    return (
        frame.with_columns(_local=local)
        .with_columns(
            local_date=pl.col("_local").dt.date(),
            local_hour=pl.col("_local").dt.hour().cast(pl.Int8),
            local_weekday=pl.col("_local").dt.weekday().cast(pl.Int8),
        )
        .drop("_local")
    )
