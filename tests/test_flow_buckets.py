"""Flow sessions merged bucket by bucket of connection keys are exactly the sessions of the
whole day merged at once, in the same order, on the real flow files' busiest days and on a
generated day whose connections (both directions, active-timeout pieces, port reuse) arrive
in small shuffled chunks and fall across many buckets and merge windows."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest
from flows_support import FLOWS, needs_realdata, raw_file
from polars.testing import assert_frame_equal, assert_series_equal
from test_flow_sessions import FIN, RST, SYN, frame, record, timeout_pieces

from assets.categorised.flow_buckets import FINE_BUCKETS, DaySessions, bucket_of
from assets.categorised.flow_sessions import FLOW_INPUT_COLUMNS, flow_sessions
from assets.flows.readers import read_flow_file
from assets.flows.transform import validate_flows

DAY = dt.date(2017, 5, 2)
_ORDER = ["ts", "uid", "sensor", "flows", "orig_bytes", "resp_bytes"]


def chunks(flows: pl.DataFrame, rows: int, seed: int = 0) -> list[pl.DataFrame]:
    """The records in a random order, `rows` at a time (as a partition's row groups)."""
    shuffled = flows.sample(fraction=1.0, shuffle=True, seed=seed).select(FLOW_INPUT_COLUMNS)
    return [shuffled.slice(i, rows) for i in range(0, shuffled.height, rows)]


def bucketed(flows: pl.DataFrame, day: dt.date, *, rows: int, merge: int) -> pl.DataFrame:
    sessions = DaySessions(chunks(flows, max(1, merge // 3)), day, rows, merge=merge)
    parts = list(sessions)
    assert all(p.height <= rows for p in parts)
    assert sessions.records_read == flows.height
    return pl.concat(parts) if parts else flow_sessions(flows.head(0))


def assert_same_sessions(flows: pl.DataFrame, day: dt.date, *, rows: int, merge: int) -> None:
    whole = flow_sessions(flows)
    got = bucketed(flows, day, rows=rows, merge=merge)
    # handed on in the whole day's order; rows equal to (ts, uid) may come either way round
    assert got.select(pl.col("ts").diff().dt.total_microseconds().min() >= 0).item() in (
        True,
        None,
    )
    assert_frame_equal(got.sort(_ORDER), whole.sort(_ORDER))
    assert got["flows"].sum() == flows.height


def generated_day(connections: int, seed: int) -> pl.DataFrame:
    rng = random.Random(seed)
    rows = []
    for i in range(connections):
        client = f"10.{i % 7}.{(i // 7) % 250}.{rng.randrange(1, 250)}"
        server = rng.choice(["93.184.216.34", "151.101.1.69", "2606:4700::6810:84e5"])
        sport, dport = rng.randrange(20000, 65000), rng.choice([443, 80, 53, 22])
        proto = 17 if dport == 53 else 6
        exporter = rng.choice(["router1", "router2"])
        t = rng.uniform(0, 80_000)
        pieces = rng.randrange(1, 5)
        kw = {"proto": proto, "exporter": exporter, "offset_s": t}
        rows += timeout_pieces(client, sport, server, dport, pieces, 60, **kw)
        if rng.random() < 0.7:  # the answer, cut by the same timeout
            rows += timeout_pieces(server, dport, client, sport, pieces, 60, **kw)
        if rng.random() < 0.1:  # the client reuses its port after a reset
            again = t + pieces * 60 + 5
            rows.append(
                record(
                    client,
                    sport,
                    server,
                    dport,
                    again - 1,
                    again - 0.5,
                    flags=RST,
                    exporter=exporter,
                )
            )
            rows.append(
                record(
                    client,
                    sport,
                    server,
                    dport,
                    again,
                    again + 2,
                    flags=SYN | FIN,
                    exporter=exporter,
                )
            )
        if rng.random() < 0.05:  # pings: ICMP keys have no ports
            rows.append(record(client, 0, server, 8 * 256, t, t + 1, proto=1, exporter=exporter))
            rows.append(record(server, 0, client, 0, t + 0.1, t + 1, proto=1, exporter=exporter))
    return frame(rows)


def test_a_generated_day_merged_by_buckets_is_the_whole_day_merged():
    flows = generated_day(1500, seed=3)
    buckets = flows.select(bucket_of()).to_series()
    assert buckets.n_unique() > 100 and buckets.max() < FINE_BUCKETS
    for rows, merge in ((50, 200), (7, 1000), (1000, 10**6)):
        assert_same_sessions(flows, DAY, rows=rows, merge=merge)


def test_both_directions_hash_to_one_bucket_whatever_the_chunk():
    flows = generated_day(300, seed=8)
    back = flows.with_columns(
        src_addr=pl.col("dst_addr"),
        dst_addr=pl.col("src_addr"),
        src_port=pl.col("dst_port"),
        dst_port=pl.col("src_port"),
    )
    whole = flows.select(bucket_of()).to_series()
    assert_series_equal(back.select(bucket_of()).to_series(), whole)
    # a row's bucket does not depend on the frame it is in (the rows of a partition's row
    # groups, the categorical exporter column of a Parquet read)
    pieces = [flows.slice(i, 17).select(bucket_of()) for i in range(0, flows.height, 17)]
    assert_series_equal(pl.concat(pieces).to_series(), whole)
    as_categorical = flows.with_columns(pl.col("exporter").cast(pl.Categorical))
    assert_series_equal(as_categorical.select(bucket_of()).to_series(), whole)


def test_a_day_without_flow_records_has_no_sessions():
    sessions = DaySessions([frame([]).select(FLOW_INPUT_COLUMNS)], DAY, 10, merge=5)
    assert list(sessions) == [] and sessions.records_read == 0


def _real_days() -> dict[dt.date, pl.DataFrame]:
    """The valid flows of the real files, by day (each file in the folder of its last flow,
    with a lateness covering its first)."""
    by_day: dict[dt.date, list[pl.DataFrame]] = {}
    for path in sorted(p for p in FLOWS.rglob("*") if p.is_file()):
        data = path.read_bytes()
        starts = read_flow_file(data, path.name)[0]["start_us"].drop_nulls()
        if starts.len() == 0:
            continue
        days = pl.from_epoch(starts, time_unit="us").dt.date()
        lo, hi = days.min(), days.max()
        day = lo
        while day <= hi:  # type: ignore[operator]
            valid = validate_flows([raw_file(data, path.name, hi)], day, (hi - lo).days).valid
            if valid.height:
                by_day.setdefault(day, []).append(valid)
            day += dt.timedelta(days=1)
    return {d: pl.concat(v) for d, v in by_day.items()}


@needs_realdata
def test_the_busiest_real_flow_days_merged_by_buckets_are_the_whole_days_merged():
    days = _real_days()
    busiest = sorted(days, key=lambda d: -days[d].height)[:4]
    assert days[busiest[0]].height > 1000
    for day in busiest:
        assert_same_sessions(days[day], day, rows=64, merge=300)


@pytest.mark.parametrize("rows", [1, 3, 1000])
def test_validated_flows_in_small_chunks_are_the_one_chunk_result(rows):
    """The same table, quarantine and counts however small the chunks (duplicates across
    files and folders, records for the previous day, bad rows)."""
    flows = generated_day(200, seed=5).with_columns(
        pl.col("start").dt.strftime("%Y-%m-%d %H:%M:%S%.3f").alias("firstSeen")
    )
    lines = ["firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows"]
    for r in flows.iter_rows(named=True):
        proto = {6: "TCP", 17: "UDP", 1: "ICMP"}[r["protocol"]]
        lines.append(
            f"{r['firstSeen']},{r['duration']},{proto},{r['src_addr']},{r['src_port']},"
            f"{r['dst_addr']},{r['dst_port']},{r['packets']},{r['bytes']},1"
        )
    body = "\n".join(lines).encode()
    broken = body + b"\n2017-05-02 10:00:00.000,1.0,TCP,not-an-ip,1,2.2.2.2,80,1,40,1\n"
    files = [
        raw_file(body, "nfdump.201705020000.csv", DAY),
        raw_file(body, "nfdump.201705020100.csv", DAY, exporter="router2"),
        raw_file(broken, "nfdump.201705030000.csv", DAY + dt.timedelta(days=1)),  # repeats
    ]
    one = validate_flows(files, DAY, 1, chunk_rows=10**6)
    small = validate_flows(files, DAY, 1, chunk_rows=rows)
    assert one.counts["quarantined_duplicate"] > 0 and one.counts["quarantined_bad_ip"] == 1
    assert_frame_equal(small.valid, one.valid)
    assert_frame_equal(small.quarantine, one.quarantine)
    assert small.counts == one.counts
    assert one.valid["start"].is_sorted()
