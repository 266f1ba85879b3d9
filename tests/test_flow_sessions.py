"""Sessions from flows: the records of one connection (both directions, every active-timeout
piece) become one session; unrelated records never merge; counts are scaled exactly once."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest

from assets.categorised.flow_sessions import GAP_TOLERANCE_S, flow_sessions
from assets.flows.schema import FLOWS_SCHEMA

T0 = dt.datetime(2017, 5, 2, 9, 0, tzinfo=dt.UTC)
CLIENT, SERVER = "175.45.176.10", "93.184.216.34"
SYN, ACK, FIN, PSH, RST = 2, 16, 1, 8, 4


def record(
    src,
    sport,
    dst,
    dport,
    start_s,
    end_s,
    *,
    bytes_=1000,
    packets=10,
    proto=6,
    flags=SYN | ACK | PSH,
    exporter="router1",
    rate=None,
    scaled=False,
    src_as=None,
    dst_as=None,
):
    return {
        "start": T0 + dt.timedelta(seconds=start_s),
        "end": T0 + dt.timedelta(seconds=end_s),
        "duration": float(end_s - start_s),
        "src_addr": src,
        "dst_addr": dst,
        "src_port": sport,
        "dst_port": dport,
        "protocol": proto,
        "packets": packets,
        "bytes": bytes_,
        "tcp_flags": flags if proto == 6 else 0,
        "in_if": 1,
        "out_if": 2,
        "src_as": src_as,
        "dst_as": dst_as,
        "sampling_rate": rate,
        "counts_scaled": scaled,
        "exporter": exporter,
        "exporter_address": "10.0.0.1",
        "format": "nfcapd",
    }


def frame(rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=FLOWS_SCHEMA)


def timeout_pieces(src, sport, dst, dport, pieces, piece_s, *, offset_s=0.0, **kw):
    """One direction of a long connection, cut into `pieces` by a `piece_s` active timeout."""
    rows = []
    for i in range(pieces):
        flags = (SYN | ACK | PSH) if i == 0 else (ACK | PSH)
        if i == pieces - 1:
            flags |= FIN
        start = offset_s + i * piece_s
        rows.append(record(src, sport, dst, dport, start, start + piece_s - 0.5, flags=flags, **kw))
    return rows


def test_both_directions_in_three_timeout_pieces_are_one_session_with_summed_bytes():
    out_rows = timeout_pieces(CLIENT, 51000, SERVER, 443, 3, 60, bytes_=700, packets=7)
    back_rows = timeout_pieces(
        SERVER, 443, CLIENT, 51000, 3, 60, offset_s=0.02, bytes_=9000, packets=9
    )
    rows = out_rows + back_rows
    random.Random(1).shuffle(rows)
    s = flow_sessions(frame(rows))
    assert s.height == 1
    row = s.row(0, named=True)
    assert row["flows"] == 6
    assert (row["id_orig_h"], row["id_orig_p"]) == (CLIENT, 51000)
    assert (row["id_resp_h"], row["id_resp_p"]) == (SERVER, 443)
    assert (row["orig_bytes"], row["resp_bytes"]) == (2100, 27000)
    assert (row["orig_pkts"], row["resp_pkts"]) == (21, 27)
    assert row["ts"] == T0
    assert row["duration"] == pytest.approx(3 * 60 - 0.5 + 0.02)
    assert row["proto"] == "tcp" and row["sensor"] == "router1"
    assert row["conn_state"] is None and row["service"] is None
    assert row["estimated"] is False


def test_unrelated_flows_never_merge():
    rows = [
        record(CLIENT, 51000, SERVER, 443, 0, 5),
        record(CLIENT, 51001, SERVER, 443, 0, 5),  # other client port
        record(CLIENT, 51000, SERVER, 80, 0, 5),  # other server port
        record("175.45.176.11", 51000, SERVER, 443, 0, 5),  # other client
        record(CLIENT, 51000, SERVER, 443, 0, 5, exporter="router2"),  # other exporter
        record(CLIENT, 51000, SERVER, 443, 0, 5, proto=17),  # other protocol
        # the same 5-tuple again after longer than Zeek's TCP idle time
        record(CLIENT, 51000, SERVER, 443, 5 + GAP_TOLERANCE_S["tcp"] + 1, 400),
    ]
    s = flow_sessions(frame(rows))
    assert s.height == len(rows)
    assert s.get_column("flows").to_list() == [1] * len(rows)
    assert s.select("sensor", "uid").is_unique().all()


def test_a_reused_client_port_after_fin_is_a_new_connection():
    first = [
        record(CLIENT, 51000, SERVER, 443, 0, 2, flags=SYN | ACK | FIN),
        record(SERVER, 443, CLIENT, 51000, 0.01, 2, flags=SYN | ACK | FIN),
    ]
    again = [
        record(CLIENT, 51000, SERVER, 443, 5, 7, flags=SYN | ACK | FIN),
        record(SERVER, 443, CLIENT, 51000, 5.01, 7, flags=SYN | ACK | FIN),
    ]
    s = flow_sessions(frame(first + again))
    assert s.get_column("flows").to_list() == [2, 2]


def test_every_record_lands_in_exactly_one_session():
    rng = random.Random(7)
    rows = []
    for _ in range(400):
        c = f"175.45.176.{rng.randint(1, 5)}"
        srv = rng.choice([SERVER, "8.8.8.8", "31.13.64.1"])
        port = rng.choice([51000, 51001, 51002])
        dport, proto = rng.choice([(443, 6), (53, 17), (80, 6)])
        start = rng.uniform(0, 3000)
        end = start + rng.uniform(0, 90)
        if rng.random() < 0.5:
            rows.append(record(c, port, srv, dport, start, end, proto=proto))
        else:
            rows.append(record(srv, dport, c, port, start, end, proto=proto))
    flows = frame(rows)
    s = flow_sessions(flows)
    assert s.get_column("flows").sum() == flows.height
    assert (s["orig_bytes"] + s["resp_bytes"]).sum() == flows["bytes"].sum()
    assert s.select("sensor", "uid").is_unique().all()


@pytest.mark.parametrize(
    ("rows", "client"),
    [
        # the reply came first in time, but only the client's record has SYN without ACK
        (
            [
                record(SERVER, 443, CLIENT, 51000, 0, 1, flags=SYN | ACK | RST),
                record(CLIENT, 51000, SERVER, 443, 0.5, 1, flags=SYN),
            ],
            CLIENT,
        ),
        # unsampled, both directions: the earlier start, even from the lower port
        (
            [
                record(SERVER, 2000, CLIENT, 60000, 0.5, 3, flags=ACK | PSH),
                record(CLIENT, 60000, SERVER, 2000, 0.1, 3, flags=ACK | PSH),
            ],
            CLIENT,
        ),
        # one direction only: the ephemeral (higher) port's side initiated
        ([record(SERVER, 443, CLIENT, 51000, 0, 3, flags=ACK | PSH)], CLIENT),
        # sampled: start times are those of random packets, so the ports decide
        (
            [
                record(SERVER, 443, CLIENT, 51000, 0, 3, flags=ACK, rate=100),
                record(CLIENT, 51000, SERVER, 443, 1, 3, flags=ACK, rate=100),
            ],
            CLIENT,
        ),
    ],
)
def test_the_initiator_is_the_client_a_user_expects(rows, client):
    s = flow_sessions(frame(rows))
    assert s.height == 1
    assert s.item(0, "id_orig_h") == client


def test_icmp_echo_and_reply_are_one_session_with_type_and_code():
    rows = [
        record(SERVER, 0, CLIENT, 0, 0.2, 3, proto=1),  # echo reply: type 0
        record(CLIENT, 0, SERVER, 8 * 256, 0.3, 3, proto=1),  # echo request: type 8
    ]
    s = flow_sessions(frame(rows))
    assert s.height == 1
    row = s.row(0, named=True)
    assert (row["proto"], row["id_orig_h"], row["id_orig_p"], row["id_resp_p"]) == (
        "icmp",
        CLIENT,
        8,
        0,
    )


def test_udp_directions_join_and_idle_past_a_minute_splits():
    rows = [
        record(CLIENT, 53000, "8.8.8.8", 53, 0, 0.01, proto=17, bytes_=60),
        record("8.8.8.8", 53, CLIENT, 53000, 0.02, 0.03, proto=17, bytes_=120),
        record(CLIENT, 53000, "8.8.8.8", 53, 0.03 + GAP_TOLERANCE_S["udp"] + 1, 62, proto=17),
    ]
    s = flow_sessions(frame(rows))
    assert s.get_column("flows").to_list() == [2, 1]
    assert s.row(0, named=True)["resp_bytes"] == 120


def test_sampling_rate_applies_exactly_once():
    rows = [
        # the exporter's raw counts at 1:100: multiplied
        record(CLIENT, 51000, SERVER, 443, 0, 1, bytes_=10, packets=1, rate=100),
        # the collector already multiplied them (nfcapd knew the rate): as they are
        record(CLIENT, 51001, SERVER, 443, 0, 1, bytes_=1000, packets=100, rate=100, scaled=True),
        # unsampled
        record(CLIENT, 51002, SERVER, 443, 0, 1, bytes_=10, packets=1, rate=1),
        # the source does not say: counts as exported, not an estimate
        record(CLIENT, 51003, SERVER, 443, 0, 1, bytes_=10, packets=1),
    ]
    s = flow_sessions(frame(rows)).sort("id_orig_p")
    assert s.get_column("orig_bytes").to_list() == [1000, 1000, 10, 10]
    assert s.get_column("orig_pkts").to_list() == [100, 100, 1, 1]
    assert s.get_column("estimated").to_list() == [True, True, False, False]
    assert s.get_column("sampling_rate").to_list() == [100, 100, 1, None]


def test_exporter_as_fields_follow_each_side():
    rows = [
        record(CLIENT, 51000, SERVER, 443, 0, 1, src_as=0, dst_as=15133),
        record(SERVER, 443, CLIENT, 51000, 0.1, 1, src_as=15133, dst_as=0),
    ]
    row = flow_sessions(frame(rows)).row(0, named=True)
    assert (row["orig_as"], row["resp_as"]) == (None, 15133)


def test_no_records_give_an_empty_typed_frame():
    s = flow_sessions(frame([]))
    assert s.height == 0 and "flows" in s.columns
