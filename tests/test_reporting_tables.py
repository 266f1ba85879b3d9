"""Daily reporting tables, period figures and the period comparison."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sessions_factory import (
    SESSIONS_SCHEMA,
    beacon_sessions,
    make_sessions,
    scan_sessions,
    sessions_frame,
)

from assets.reference.questions import load_questions
from assets.report.compare import compare_periods
from assets.report.figures import FIGURES, home_country_for_timezone, period_figures
from assets.reporting.tables import REPORTING_SCHEMAS, REPORTING_TABLES, build_reporting_tables

DAYS = [dt.date(2017, 5, 15) + dt.timedelta(days=i) for i in range(4)]


def _day_sessions(day: dt.date, i: int) -> pl.DataFrame:
    s = pl.concat([make_sessions(day, 1500, seed=i), beacon_sessions(day), scan_sessions(day)])
    if day < dt.date(2017, 5, 17):  # Bitcoin only shows up from the third day on
        s = s.filter(pl.col("service") != "Bitcoin")
    return s


@pytest.fixture(scope="module")
def sessions() -> pl.DataFrame:
    return pl.concat([_day_sessions(d, i) for i, d in enumerate(DAYS)])


@pytest.fixture(scope="module")
def daily(sessions) -> dict[dt.date, dict[str, pl.DataFrame]]:
    return {d: build_reporting_tables(sessions, day=d) for d in DAYS}


@pytest.fixture(scope="module")
def period_tables(daily) -> dict[str, pl.DataFrame]:
    return {
        name: pl.concat([t[name].with_columns(date=pl.lit(d)) for d, t in daily.items()])
        for name in REPORTING_TABLES
    }


@pytest.fixture(scope="module")
def figures(period_tables) -> dict[str, pl.DataFrame]:
    return period_figures(period_tables, home_country="KP", questions=load_questions())


def test_every_table_has_its_declared_schema(daily):
    for tables in daily.values():
        assert tuple(tables) == REPORTING_TABLES
        for name, df in tables.items():
            assert df.schema == pl.Schema(REPORTING_SCHEMAS[name]), name
            assert "date" not in df.columns
            assert df.height > 0, name


def test_day_tables_do_not_depend_on_the_range_or_row_order(sessions, daily):
    day = DAYS[1]
    alone = _day_sessions(day, 1).sample(fraction=1.0, shuffle=True, seed=7)
    built_alone = build_reporting_tables(alone, day=day)
    for name in REPORTING_TABLES:
        assert_frame_equal(built_alone[name], daily[day][name])


def test_empty_day_gives_empty_tables_and_one_zero_summary_row():
    empty = pl.DataFrame(schema=SESSIONS_SCHEMA)
    tables = build_reporting_tables(empty, day=DAYS[0])
    assert all(tables[n].height == 0 for n in REPORTING_TABLES if n != "daily_summary")
    summary = tables["daily_summary"].row(0, named=True)
    assert summary["sessions"] == 0 and summary["unknown_share"] is None


def test_summary_invariants(sessions, daily):
    for day, tables in daily.items():
        s = tables["daily_summary"].row(0, named=True)
        parts = sum(s[f"{d}_sessions"] for d in ("outbound", "inbound", "internal", "transit"))
        assert parts == s["sessions"] == sessions.filter(pl.col("ts").dt.date() == day).height
        shares = (
            tables["activity_by_category"].group_by("direction").agg(pl.col("session_share").sum())
        )
        assert shares["session_share"].to_list() == pytest.approx([1.0] * shares.height)


def test_period_figures_equal_a_direct_computation_over_all_sessions(sessions, figures):
    users = sessions.filter(pl.col("direction") == "outbound")
    direct = users.group_by("category").agg(pl.len().alias("n"), pl.col("bytes_total").sum())
    got = figures["category_shares"].join(direct, on="category")
    assert got.height == direct.height
    assert (got["sessions"] == got["n"]).all() and (got["bytes"] == got["bytes_total"]).all()

    by_service = users.group_by("service").len().sort(["len", "service"], descending=[True, False])
    assert figures["service_ranking"]["service"].to_list() == by_service["service"].to_list()

    by_hour = users.group_by("local_hour").len()
    hourly = figures["hourly_profile"].group_by("local_hour").agg(pl.col("sessions").sum())
    assert hourly.height == 24
    assert (
        hourly.join(by_hour, on="local_hour")
        .select((pl.col("sessions") == pl.col("len")).all())
        .item()
    )


def test_headline_recovers_the_scenario_truths(sessions, figures):
    head = figures["headline"].row(0, named=True)
    users = sessions.filter(pl.col("direction") == "outbound")
    sg = users.filter(pl.col("category").is_in(["streaming", "gaming"])).height / users.height
    assert head["streaming_gaming_share"] == pytest.approx(sg)
    assert head["busiest_local_hour"] == 8 and head["busiest_local_hour_label"] == "08:00-09:00"
    assert head["first_bitcoin_date"] == dt.date(2017, 5, 17)
    assert head["social_web_ranking"] == "Facebook, Google, Baidu, Alibaba"
    inbound = sessions.filter(
        (pl.col("direction") == "inbound")
        & pl.col("remote_country").is_not_null()
        & (pl.col("remote_country") != "KP")
    )
    india = inbound.filter(pl.col("remote_country") == "IN").height / inbound.height
    assert head["india_inbound_share"] == pytest.approx(india)
    assert head["obfuscation_share"] < 0.02
    assert set(figures) == set(FIGURES)


def test_beacon_is_found_and_pooled_over_days(daily, figures):
    for tables in daily.values():
        beacons = tables["suspect_activity"].filter(pl.col("kind") == "beaconing")
        assert beacons.select("local_ip", "remote_ip", "resp_p").rows() == [
            ("175.45.176.77", "198.51.100.7", 8443)
        ]
        assert beacons["gap_mean_s"][0] == pytest.approx(300, rel=0.05)
    pooled = figures["suspect"].filter(pl.col("kind") == "beaconing").row(0, named=True)
    assert pooled["days"] == len(DAYS) and pooled["gap_cv"] < 0.1


def test_irregular_or_fast_traffic_is_not_a_beacon():
    day = DAYS[0]
    bursty = beacon_sessions(day, every_s=300, jitter_s=290, count=60, seed=3)
    fast = beacon_sessions(day, remote_ip="198.51.100.8", every_s=2, jitter_s=0, count=100)
    few = beacon_sessions(day, remote_ip="198.51.100.9", count=5, jitter_s=0)
    tables = build_reporting_tables(pl.concat([bursty, fast, few]), day=day)
    assert tables["suspect_activity"].filter(pl.col("kind") == "beaconing").height == 0


def test_a_remote_host_polling_a_monitored_server_is_an_inbound_beacon():
    day = DAYS[0]
    poll = beacon_sessions(day, remote_ip="198.51.100.20", resp_p=80).with_columns(
        direction=pl.lit("inbound")
    )
    # password guessing: as regular as a beacon, but a half-hour burst
    burst = beacon_sessions(
        day, remote_ip="198.51.100.21", resp_p=22, every_s=70, jitter_s=5, count=30
    ).with_columns(direction=pl.lit("inbound"))
    tables = build_reporting_tables(pl.concat([poll, burst]), day=day)
    beacons = tables["suspect_activity"].filter(pl.col("kind") == "beaconing")
    assert beacons.select("direction", "local_ip", "remote_ip", "resp_p").rows() == [
        ("inbound", "175.45.176.77", "198.51.100.20", 80)
    ]


def test_failed_inbound_probes_of_vpn_ports_are_not_vpn_use():
    day = DAYS[0]
    base = {
        "ts": [dt.datetime.combine(day, dt.time(4, m), dt.UTC) for m in range(4)],
        "direction": "inbound",
        "local_ip": "175.45.176.9",
        "remote_ip": "192.0.2.50",
        "resp_p": 1194,
        "service": "OpenVPN",
        "category": "obfuscation",
    }
    probes = sessions_frame({**base, "conn_state": "REJ"})
    served = sessions_frame({**base, "conn_state": "SF", "remote_ip": "192.0.2.51"})
    tables = build_reporting_tables(pl.concat([probes, served]), day=day)
    flagged = tables["suspect_activity"].filter(pl.col("kind") == "obfuscation")
    assert flagged.select("direction", "local_ip", "sessions").rows() == [
        ("inbound", "175.45.176.9", 4)
    ]


def test_scanning_needs_fan_out_and_mostly_failed_attempts():
    day = DAYS[0]
    sweep = scan_sessions(day, remote_ip="192.0.2.1", targets=30, ports=(22,))
    port_probe = scan_sessions(day, remote_ip="192.0.2.2", targets=1, ports=tuple(range(1, 50)))
    healthy = scan_sessions(day, remote_ip="192.0.2.3", targets=30, ports=(443,), state="SF")
    busy_client = scan_sessions(day, remote_ip="192.0.2.4", targets=1, ports=(443,), state="S0")
    tables = build_reporting_tables(pl.concat([sweep, port_probe, healthy, busy_client]), day=day)
    found = tables["suspect_activity"].filter(pl.col("kind") == "scanning")
    assert sorted(found["remote_ip"]) == ["192.0.2.1", "192.0.2.2"]
    sweep_row = found.filter(pl.col("remote_ip") == "192.0.2.1").row(0, named=True)
    assert (sweep_row["local_ips"], sweep_row["ports"], sweep_row["failed_sessions"]) == (30, 1, 30)


def test_obfuscation_and_crypto_use_is_listed_per_client_and_service(daily):
    flagged = daily[DAYS[3]]["suspect_activity"].filter(
        pl.col("kind").is_in(["obfuscation", "crypto"])
    )
    assert set(flagged["service"]) == {"NordVPN", "Bitcoin"}
    assert flagged["local_ip"].null_count() == 0


def test_sessions_of_other_days_are_ignored(sessions):
    day = DAYS[0]
    mixed = build_reporting_tables(sessions, day=day)
    alone = build_reporting_tables(sessions.filter(pl.col("ts").dt.date() == day), day=day)
    assert_frame_equal(mixed["daily_summary"], alone["daily_summary"])


def test_missing_tables_give_empty_figures():
    figs = period_figures({})
    assert set(figs) == set(FIGURES)
    assert figs["category_shares"].height == 0
    assert figs["headline"]["streaming_gaming_share"][0] is None


def test_home_country_comes_from_the_zone_database():
    assert home_country_for_timezone("Asia/Pyongyang") == "KP"
    assert home_country_for_timezone("Nowhere/Else") is None


def test_compare_periods_reports_change_per_metric(period_tables, figures):
    early = period_figures(
        {n: t.filter(pl.col("date") == DAYS[0]) for n, t in period_tables.items()},
        home_country="KP",
    )
    cmp = compare_periods(early, figures)
    assert cmp.columns == ["metric", "period_a", "period_b", "change", "change_pct"]
    days = cmp.filter(pl.col("metric") == "days").row(0, named=True)
    assert (days["period_a"], days["period_b"], days["change"], days["change_pct"]) == (
        1.0,
        4.0,
        3.0,
        3.0,
    )
    crypto = cmp.filter(pl.col("metric") == "category_share:crypto").row(0, named=True)
    assert crypto["period_a"] == 0.0 and crypto["period_b"] > 0 and crypto["change_pct"] is None
    assert cmp["metric"].is_unique().all()


def test_sessions_factory_follows_the_contract():
    df = sessions_frame({"ts": [dt.datetime(2017, 4, 1, 23, 45, tzinfo=dt.UTC)]})
    assert df.schema == pl.Schema(SESSIONS_SCHEMA)
    # Pyongyang was UTC+08:30 in 2017
    assert df.row(0, named=True)["local_hour"] == 8
    assert df.row(0, named=True)["local_date"] == dt.date(2017, 4, 2)


def test_services_are_ranked_overall_and_within_their_category(daily):
    services = daily[DAYS[0]]["top_services"].filter(pl.col("direction") == "outbound")
    overall = services.sort("rank_overall")
    assert overall["rank_overall"].to_list() == list(range(1, services.height + 1))
    assert overall["sessions"].is_sorted(descending=True)
    search = services.filter(pl.col("category") == "search").sort("rank_in_category")
    assert search.select("service", "rank_in_category").rows() == [("Google", 1), ("Baidu", 2)]


# ---- the detector on a simulated day: finds what the 2017 scenario planted -------------------
PLANTED_DAY = dt.date(2017, 5, 17)  # two scanners and the 300 s beacon are planted that day


@pytest.fixture(scope="module")
def simulated_day(tmp_path_factory) -> tuple[dict, dict[str, pl.DataFrame]]:
    """Ground truth and reporting tables of one simulated day, run through the pure
    transforms (validate -> categorise -> reporting tables)."""
    import json
    import posixpath

    from assets.categorised.sessions import categorise
    from assets.lake import Lake
    from assets.reference.loaders import load_reference
    from assets.simulate.run import simulate
    from assets.validated.transform import RawFile, log_table, validate_partition

    lake = Lake(str(tmp_path_factory.mktemp("sim_suspect")))
    sim = simulate(lake, start=PLANTED_DAY, end=PLANTED_DAY, sessions_per_day=400, seed=7)
    truth = json.loads(lake.raw_fs.cat_file(sim.ground_truth_path))
    valid = {}
    for table in ("conn", "dns", "ssl", "http"):
        files = [
            RawFile(lake.raw_relpath(p), f, sim.sensor, lambda p=p: lake.read_raw_bytes(p))
            for f in (PLANTED_DAY, PLANTED_DAY + dt.timedelta(days=1))
            for p in lake.raw_files(sim.sensor, f)
            if log_table(posixpath.basename(p)) == table
        ]
        valid[table] = validate_partition(files, table, PLANTED_DAY).valid
    sessions = categorise(
        valid["conn"], valid["dns"], valid["ssl"], valid["http"], reference=load_reference()
    ).sessions
    return truth, build_reporting_tables(sessions, day=PLANTED_DAY)


def test_detector_finds_exactly_the_planted_scanners_and_beacon(simulated_day):
    truth, tables = simulated_day
    day = PLANTED_DAY.isoformat()
    suspect = tables["suspect_activity"]
    planted_scanners = {s["ip"]: s for s in truth["suspect"]["scanners"] if day in s["days"]}
    planted_beacons = [b for b in truth["suspect"]["beacons"] if day in b["days"]]
    assert len(planted_scanners) == 2 and len(planted_beacons) == 1

    scans = suspect.filter(pl.col("kind") == "scanning")
    assert set(scans["remote_ip"]) == set(planted_scanners)  # and no other source
    for row in scans.iter_rows(named=True):
        plan = planted_scanners[row["remote_ip"]]
        assert row["direction"] == "inbound" and row["remote_country"] == plan["country"]
        assert row["sessions"] == row["failed_sessions"] == plan["sessions"][day]
        assert (row["local_ips"], row["ports"]) == (plan["targets"], len(plan["ports"]))

    beacons = suspect.filter(pl.col("kind") == "beaconing")
    b = planted_beacons[0]
    assert beacons.select("direction", "local_ip", "remote_ip", "resp_p").rows() == [
        ("outbound", b["local_ip"], b["remote_ip"], b["port"])
    ]
    row = beacons.row(0, named=True)
    assert row["sessions"] == b["sessions"][day]
    assert row["gap_mean_s"] == pytest.approx(b["period_s"], rel=0.02)
    assert row["gap_cv"] < 0.1 and row["remote_country"] == b["remote_country"]


def test_planted_activity_leaves_the_inbound_country_shares_as_planted(simulated_day):
    """Scanner probes are inbound sessions: the report's country table counts them exactly as
    the ground truth's inbound sources do."""
    truth, tables = simulated_day
    inbound = tables["country_activity"].filter(pl.col("direction") == "inbound")
    found = {c: n for c, n in inbound.select("remote_country", "sessions").rows() if c}
    assert found == truth["days"][PLANTED_DAY.isoformat()]["countries"]["inbound_source_counts"]
