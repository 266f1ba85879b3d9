"""`simulate --format netflow`: the scenario's connections as a border router's NetFlow v9
exports; the packets round-trip through hermit's own decoder and through a real nfcapd."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
from flows_support import require_program

from assets.flows.packets import decode_packets
from assets.flows.readers import read_flow_file
from assets.lake import Lake
from assets.simulate.flow_export import ACTIVE_TIMEOUT_S, border_flows, ip_ints
from assets.simulate.netflow_v9 import ExportState, packets
from assets.simulate.population import build_population
from assets.simulate.run import simulate
from assets.simulate.run_flows import simulate_flows
from assets.simulate.scenario import load_scenario
from assets.simulate.sessions import DayGenerator, DaySlice

DAY = dt.date(2017, 5, 17)
BOOT_MS = (DAY - dt.date(1970, 1, 1)).days * 86_400_000 - 86_400_000


@pytest.fixture(scope="module")
def slice_conn():
    sc = load_scenario()
    pop = build_population(sc, 2017)
    batch = DayGenerator(sc, pop, 2017, 600).generate(DAY, DaySlice(0, 0, 1440, long=True))
    return batch.conn, pop


def _key(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(["start_us", "src_addr", "src_port", "dst_port", "packets"])


def test_each_border_connection_is_two_directions_cut_by_the_active_timeout(slice_conn):
    conn, pop = slice_conn
    flows = border_flows(conn, pop.local_nets)
    local_o = pop.local_nets.owner_of(ip_ints(conn["id.orig_h"])) >= 0
    local_r = pop.local_nets.owner_of(ip_ints(conn["id.resp_h"])) >= 0
    crossing = conn.filter(pl.Series(local_o != local_r))
    assert crossing.height < conn.height  # lookups to the own resolver stay inside
    # packets and bytes of every connection are kept, direction by direction
    assert flows["packets"].sum() == crossing["orig_pkts"].sum() + crossing["resp_pkts"].sum()
    assert flows["bytes"].sum() == crossing["orig_ip_bytes"].sum() + crossing["resp_ip_bytes"].sum()
    assert (flows["last_ms"] - flows["first_ms"]).max() <= ACTIVE_TIMEOUT_S * 1000
    assert (flows["export_ms"] >= flows["last_ms"]).all()
    assert (np.diff(flows["export_ms"]) >= 0).all()
    long_ones = (crossing["duration"].fill_null(0) > ACTIVE_TIMEOUT_S * 1_000_000).sum()
    assert long_ones > 0 and len(flows["src"]) > 2 * crossing.height  # cut and two-way


def test_sampling_keeps_about_one_packet_in_n_and_drops_flows_with_none(slice_conn):
    conn, pop = slice_conn
    full = border_flows(conn, pop.local_nets)
    rng = np.random.default_rng(7)
    sampled = border_flows(conn, pop.local_nets, sampling=100, rng=rng)
    assert (sampled["packets"] > 0).all()
    assert len(sampled["src"]) < len(full["src"])
    ratio = full["packets"].sum() / sampled["packets"].sum()
    assert 90 < ratio < 110
    again = border_flows(conn, pop.local_nets, sampling=100, rng=np.random.default_rng(7))
    assert all((again[c] == sampled[c]).all() for c in sampled)  # deterministic by seed


@pytest.mark.parametrize("rate", [1, 100])
def test_packets_round_trip_through_hermits_decoder(slice_conn, rate):
    conn, pop = slice_conn
    rng = np.random.default_rng(1)
    flows = border_flows(conn, pop.local_nets, sampling=rate, rng=rng)
    datagrams = packets(flows, ExportState(boot_ms=BOOT_MS), rate)
    assert max(len(d) for d in datagrams) <= 1400
    got = decode_packets([(d, "192.0.2.1") for d in datagrams])
    assert got["problem"].is_null().all() and got.height == len(flows["src"])
    sent = pl.DataFrame(
        {
            "start_us": flows["first_ms"] * 1000,
            "end_us": flows["last_ms"] * 1000,
            "src_addr": pl.Series(flows["src"]).map_elements(_dotted, return_dtype=pl.String),
            "src_port": flows["sport"],
            "dst_port": flows["dport"],
            "protocol": flows["proto"],
            "packets": flows["packets"],
            "bytes": flows["bytes"],
        }
    )
    cols = sent.columns
    assert _key(got.select(cols).cast(sent.schema)).equals(_key(sent))
    want_rate = None if rate == 1 else rate
    assert got["sampling_rate"].unique().to_list() == [want_rate]
    assert not got["counts_scaled"].any()


def _dotted(v: int) -> str:
    return ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))


@pytest.mark.parametrize("rate", [1, 10])
def test_nfcapd_collects_the_exports_into_the_raw_zone(tmp_path, rate):
    require_program("nfcapd")
    require_program("nfdump")
    lake = Lake(str(tmp_path / "lake"))
    sim = simulate_flows(lake, start=DAY, end=DAY, sessions_per_day=400, sampling=rate)
    root = tmp_path / "lake" / "raw" / "flows" / "pyongyang-border"
    files = sorted(root.glob("*/nfcapd.*"))
    assert len(files) == sim.files >= 24
    names = {f.name for f in files}
    assert "nfcapd.201705170800" in names and all(f.parent.name[:4] == "2017" for f in files)
    frames = [read_flow_file(f.read_bytes(), f.name)[0] for f in files]
    got = pl.concat(frames, how="diagonal")
    assert got["problem"].is_null().all() and got.height == sim.flows
    # every flow is filed in the folder of the UTC day of its export hour
    for f, frame in zip(files, frames, strict=True):
        ends = pl.from_epoch(frame["end_us"], "us").dt.date()
        assert ends.max() <= dt.date.fromisoformat(f.parent.name)
    if rate == 1:
        assert not got["counts_scaled"].any() and got["sampling_rate"].is_null().all()
    else:
        # nfcapd multiplied the sampled counts by the announced rate, and says so
        assert got["counts_scaled"].all() and got["sampling_rate"].unique().to_list() == [rate]
        assert (got["packets"] % rate == 0).all()


def test_flows_ground_truth_is_the_zeek_runs(tmp_path):
    require_program("nfcapd")
    zeek = simulate(Lake(str(tmp_path / "z")), start=DAY, end=DAY, sessions_per_day=300)
    flows = simulate_flows(Lake(str(tmp_path / "f")), start=DAY, end=DAY, sessions_per_day=300)
    a = json.loads(open(zeek.ground_truth_path).read())  # noqa: SIM115
    b = json.loads(open(flows.ground_truth_path).read())  # noqa: SIM115
    assert a["period"]["category_shares"] == b["period"]["category_shares"]
    assert a["period"]["busiest_local_hour"] == b["period"]["busiest_local_hour"]
    assert a["suspect"] == b["suspect"]
    assert b["export"]["sampling"] == 1 and b["export"]["flows"] == flows.flows
