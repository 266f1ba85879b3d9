"""Sessions from flows get Zeek's S0 and REJ where the TCP flags prove them (the scan and
failed-attempt figures key on them), and no state where flows cannot say."""

from __future__ import annotations

import polars as pl
from test_flow_sessions import ACK, CLIENT, FIN, PSH, RST, SERVER, SYN, frame, record

from assets.categorised.flow_sessions import flow_sessions

PROBER = "61.160.1.1"


def _sessions(rows) -> pl.DataFrame:
    return flow_sessions(frame(rows))


def test_unanswered_and_reset_attempts_get_s0_and_rej():
    rows = [
        # an unanswered SYN (S0), a SYN answered by a reset (REJ), a full exchange (no state)
        record(PROBER, 40001, CLIENT, 23, 0, 0, packets=1, bytes_=40, flags=SYN),
        record(PROBER, 40002, CLIENT, 445, 5, 5, packets=1, bytes_=40, flags=SYN),
        record(CLIENT, 445, PROBER, 40002, 5.01, 5.01, packets=1, bytes_=40, flags=RST | ACK),
        record(CLIENT, 50000, SERVER, 443, 10, 40, flags=SYN | ACK | PSH | FIN),
        record(SERVER, 443, CLIENT, 50000, 10.02, 40, flags=SYN | ACK | PSH | FIN),
    ]
    got = _sessions(rows).sort("ts")
    assert got["conn_state"].to_list() == ["S0", "REJ", None]
    assert got["id_orig_h"].to_list() == [PROBER, PROBER, CLIENT]


def test_sampled_attempts_get_no_state():
    rows = [record(PROBER, 40001, CLIENT, 23, 0, 0, packets=1, bytes_=40, flags=SYN, rate=100)]
    assert _sessions(rows)["conn_state"].to_list() == [None]
