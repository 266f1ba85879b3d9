"""The scenario simulator: Zeek archive layout and format, determinism, ground truth, injection."""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import json
import posixpath
import re
from collections import Counter
from pathlib import Path

import pytest

from assets.lake import Lake
from assets.simulate.run import simulate
from assets.simulate.scenario import ScenarioError, load_scenario

SENSOR = "pyongyang-tap"
DAY1, DAY3 = dt.date(2017, 5, 16), dt.date(2017, 5, 18)
MONITORED = [
    ipaddress.ip_network(c) for c in ("175.45.176.0/22", "210.52.109.0/24", "77.94.35.0/24")
]
FILE_RE = re.compile(r"^(conn|dns|ssl|http)\.(\d\d):00:00-(\d\d):00:00\.log\.gz$")
TS_RE = re.compile(r"^\d{10}\.\d{6}$")
EXPECTED_FIELDS = {
    "conn": "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes "
    "resp_bytes conn_state local_orig local_resp missed_bytes history orig_pkts orig_ip_bytes "
    "resp_pkts resp_ip_bytes tunnel_parents",
    "dns": "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass "
    "qclass_name qtype qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected",
    "ssl": "ts uid id.orig_h id.orig_p id.resp_h id.resp_p version cipher curve server_name "
    "resumed last_alert next_protocol established ssl_history cert_chain_fps "
    "client_cert_chain_fps sni_matches_cert",
    "http": "ts uid id.orig_h id.orig_p id.resp_h id.resp_p trans_depth method host uri referrer "
    "version user_agent origin request_body_len response_body_len status_code status_msg "
    "info_code info_msg tags username password proxied orig_fuids orig_filenames "
    "orig_mime_types resp_fuids resp_filenames resp_mime_types",
}


def _monitored(ip: str) -> bool:
    a = ipaddress.ip_address(ip)
    return any(a in n for n in MONITORED)


def _utc_day(ts: str) -> str:
    return dt.datetime.fromtimestamp(float(ts), dt.UTC).date().isoformat()


# ---- an independent reader of Zeek TSV archives ---------------------------------------------
def read_tsv(data: bytes) -> tuple[dict, list[dict]]:
    """Header lines and records of one Zeek TSV file, checked line by line."""
    text = gzip.decompress(data).decode()
    assert text.endswith("\n")
    lines = text.split("\n")[:-1]
    assert lines[0] == "#separator \\x09"
    assert lines[1] == "#set_separator\t,"
    assert lines[2] == "#empty_field\t(empty)"
    assert lines[3] == "#unset_field\t-"
    head = {}
    for line in lines[4:8]:
        key, _, value = line[1:].partition("\t")
        head[key] = value
    assert list(head) == ["path", "open", "fields", "types"]
    assert lines[-1].startswith("#close\t")
    assert not any(line.startswith("#") for line in lines[8:-1])
    fields = head["fields"].split("\t")
    records = []
    for line in lines[8:-1]:
        values = line.split("\t")
        assert len(values) == len(fields), line
        records.append(dict(zip(fields, values, strict=True)))
    return head, records


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    lake = Lake(str(root / "lake"))
    summary = simulate(lake, start=DAY1, end=DAY3, sessions_per_day=400, seed=7)
    return lake, summary


@pytest.fixture(scope="module")
def logs(run):
    """Every record written, per log, with its folder and file."""
    lake, _ = run
    out: dict[str, list[dict]] = {"conn": [], "dns": [], "ssl": [], "http": []}
    heads = []
    for folder in sorted(
        p for p in lake.raw_fs.ls(lake.raw_path("zeek", SENSOR)) if lake.raw_fs.isdir(p)
    ):
        for path in sorted(lake.raw_fs.ls(folder)):
            name = posixpath.basename(path)
            m = FILE_RE.match(name)
            assert m, name
            head, recs = read_tsv(lake.raw_fs.cat_file(path))
            heads.append((posixpath.basename(folder), name, head))
            for r in recs:
                r["_folder"], r["_file"] = posixpath.basename(folder), name
            out[m.group(1)] += recs
    return out, heads


def test_layout_is_zeeks_hourly_archive(run, logs):
    lake, summary = run
    folders = sorted(posixpath.basename(p) for p in lake.raw_fs.ls(lake.raw_path("zeek", SENSOR)))
    # three days plus the next morning's folder (connections that ended after midnight)
    assert folders == ["2017-05-16", "2017-05-17", "2017-05-18", "2017-05-19", "ground_truth.json"]
    _, heads = logs
    for folder, name, head in heads:
        m = FILE_RE.match(name)
        start, stop = int(m.group(2)), int(m.group(3))
        assert stop == (start + 1) % 24
        assert head["path"] == m.group(1)
        assert head["open"] == f"{folder}-{start:02d}-00-00"
    assert summary.files == len(heads)
    assert summary.rows_per_second > 0


def test_zeek_tsv_fields_types_and_values(logs):
    recs, heads = logs
    for _, name, head in heads:
        log = name.split(".")[0]
        assert head["fields"].split("\t") == EXPECTED_FIELDS[log].split()
        types = head["types"].split("\t")
        assert types[:6] == ["time", "string", "addr", "port", "addr", "port"]
    for log, rows in recs.items():
        assert rows, log
        for r in rows[:2000]:
            assert TS_RE.match(r["ts"])
            assert r["uid"].startswith("C") and len(r["uid"]) == 18
            ipaddress.ip_address(r["id.orig_h"])
            ipaddress.ip_address(r["id.resp_h"])
            assert 0 < int(r["id.orig_p"]) < 65536 and 0 < int(r["id.resp_p"]) < 65536
    for r in recs["conn"]:
        assert r["duration"] == "-" or re.match(r"^\d+\.\d{6}$", r["duration"])
        assert r["tunnel_parents"] == "-"
    for r in recs["http"]:
        assert r["tags"] == "(empty)"


def test_records_are_filed_by_end_time_and_long_ones_after_midnight(logs):
    recs, _ = logs
    for r in recs["conn"]:
        end = float(r["ts"]) + (0 if r["duration"] == "-" else float(r["duration"]))
        end_time = dt.datetime.fromtimestamp(end, dt.UTC)
        assert r["_folder"] == end_time.date().isoformat()
        assert r["_file"].startswith(f"conn.{end_time.hour:02d}:")
    late = [r for r in recs["conn"] if r["_folder"] == "2017-05-19"]
    assert late and all(_utc_day(r["ts"]) == "2017-05-18" for r in late)
    first_hour = [r for r in late if r["_file"] == "conn.00:00:00-01:00:00.log.gz"]
    assert any(float(r["duration"]) > 3600 for r in first_hour)


def test_uids_consistent_and_dns_precedes_use(logs):
    recs, _ = logs
    conn = {r["uid"]: r for r in recs["conn"]}
    assert len(conn) == len(recs["conn"])  # unique
    for log in ("dns", "ssl", "http"):
        for r in recs[log]:
            c = conn[r["uid"]]
            assert (c["id.orig_h"], c["id.resp_h"], c["id.resp_p"]) == (
                r["id.orig_h"], r["id.resp_h"], r["id.resp_p"]
            )  # fmt: skip
    for r in recs["ssl"]:
        assert r["server_name"] not in ("-", "(empty)")
    for r in recs["http"]:
        assert r["host"] not in ("-", "(empty)")
    # every lookup is followed within a second by a connection of the same client to one of
    # its answers, and TTLs pair with answers
    dns_uids = {r["uid"] for r in recs["dns"]}
    starts: dict[tuple[str, str], list[float]] = {}
    for c in recs["conn"]:
        if c["uid"] not in dns_uids:
            starts.setdefault((c["id.orig_h"], c["id.resp_h"]), []).append(float(c["ts"]))
    answers = set()
    for r in recs["dns"]:
        ips, ttls = r["answers"].split(","), r["TTLs"].split(",")
        assert len(ips) == len(ttls) and r["rcode_name"] == "NOERROR"
        t = float(r["ts"])
        assert any(t < u <= t + 1 for ip in ips for u in starts.get((r["id.orig_h"], ip), ()))
        answers |= {(r["id.orig_h"], ip) for ip in ips}
    # some outbound connections carry no hostname at all (prefix and port rules)
    named = {r["uid"] for r in recs["ssl"]} | {r["uid"] for r in recs["http"]}
    bare = [
        c for c in recs["conn"]
        if _monitored(c["id.orig_h"]) and not _monitored(c["id.resp_h"])
        and c["uid"] not in named and (c["id.orig_h"], c["id.resp_h"]) not in answers
    ]  # fmt: skip
    assert len(bare) > 20
    assert any(c["id.resp_p"] == "8333" for c in bare)


def test_ground_truth_matches_what_was_written(run, logs):
    lake, summary = run
    recs, _ = logs
    gt = json.loads(lake.raw_fs.cat_file(summary.ground_truth_path))
    assert summary.ground_truth_path.endswith(f"zeek/{SENSOR}/ground_truth.json")
    for log, rows in recs.items():
        assert summary.rows[log] == len(rows) == gt["period"]["records"][log]
        per_day = Counter(_utc_day(r["ts"]) for r in rows)
        assert per_day == Counter(
            {d: v["records"].get(log, 0) for d, v in gt["days"].items() if v["records"].get(log)}
        )
    dns_uids = {r["uid"] for r in recs["dns"]}
    direction = Counter()
    hours = Counter()
    for c in recs["conn"]:
        o, r = _monitored(c["id.orig_h"]), _monitored(c["id.resp_h"])
        d = "internal" if o and r else "outbound" if o else "inbound"
        direction[(_utc_day(c["ts"]), d)] += 1
        if d == "outbound":
            local = dt.datetime.fromtimestamp(float(c["ts"]), dt.UTC) + dt.timedelta(
                hours=8, minutes=30
            )
            hours[str(local.hour)] += 1
        if d == "internal":
            assert c["uid"] in dns_uids and c["id.resp_p"] == "53"
    for day, v in gt["days"].items():
        for d in ("outbound", "inbound", "internal"):
            assert v["sessions"][d] == direction[(day, d)]
        assert sum(v["service_counts"].values()) == v["sessions"]["outbound"]
    assert {h: n for h, n in gt["period"]["hourly_counts"].items() if n} == dict(hours)
    # inbound sources: the pipeline's own IP-to-country source agrees with the plan
    from geoip2fast import GeoIP2Fast

    geo = GeoIP2Fast()
    countries = Counter(
        geo.lookup(c["id.orig_h"]).country_code
        for c in recs["conn"] if not _monitored(c["id.orig_h"])
    )  # fmt: skip
    assert dict(countries) == gt["period"]["countries"]["inbound_source_counts"]
    assert gt["injected"]["total"] == 0


def test_planted_scanners_and_beacons_are_in_the_logs_and_the_ground_truth(run, logs):
    lake, summary = run
    recs, _ = logs
    gt = json.loads(lake.raw_fs.cat_file(summary.ground_truth_path))
    suspect = gt["suspect"]
    window = {d.isoformat() for d in (DAY1, DAY1 + dt.timedelta(days=1), DAY3)}
    assert suspect["scanners"] and suspect["beacons"]
    assert all(set(s["days"]) <= window for s in suspect["scanners"] + suspect["beacons"])
    named = {r["uid"] for log in ("dns", "ssl", "http") for r in recs[log]}
    by_orig: dict[str, list[dict]] = {}
    for c in recs["conn"]:
        by_orig.setdefault(c["id.orig_h"], []).append(c)

    for s in suspect["scanners"]:
        assert not _monitored(s["ip"])
        probes = by_orig[s["ip"]]
        assert Counter(_utc_day(c["ts"]) for c in probes) == s["sessions"]
        assert all(v == s["targets"] * len(s["ports"]) for v in s["sessions"].values())
        for day in s["days"]:
            those = [c for c in probes if _utc_day(c["ts"]) == day]
            assert (
                len({c["id.resp_h"] for c in those}) == s["targets"] >= 10 or len(s["ports"]) >= 10
            )
            assert all(_monitored(c["id.resp_h"]) for c in those)
            assert {int(c["id.resp_p"]) for c in those} == set(s["ports"])
            assert {c["conn_state"] for c in those} == {"S0", "REJ"}
            assert not any(c["uid"] in named or c["service"] != "-" for c in those)

    for b in suspect["beacons"]:
        assert _monitored(b["local_ip"]) and not _monitored(b["remote_ip"])
        calls = [
            c for c in by_orig[b["local_ip"]]
            if (c["id.resp_h"], int(c["id.resp_p"])) == (b["remote_ip"], b["port"])
        ]  # fmt: skip
        assert Counter(_utc_day(c["ts"]) for c in calls) == b["sessions"]
        assert all(c["conn_state"] == "SF" and c["uid"] not in named for c in calls)
        for day in b["days"]:
            ts = sorted(float(c["ts"]) for c in calls if _utc_day(c["ts"]) == day)
            gaps = [y - x for x, y in zip(ts, ts[1:], strict=False)]
            lo, hi = b["period_s"] * (1 - b["jitter"]), b["period_s"] * (1 + b["jitter"])
            assert all(lo - 1e-3 <= g <= hi + 1e-3 for g in gaps)
            assert ts[-1] - ts[0] > 86_400 - 2 * hi  # all day
    # and they are counted like any other session of their direction
    day = "2017-05-17"
    planted_in = sum(s["sessions"].get(day, 0) for s in suspect["scanners"])
    assert gt["days"][day]["inbound_service_counts"]["Unknown"] >= planted_in


def test_same_seed_same_bytes(tmp_path, run):
    lake, _ = run
    other = Lake(str(tmp_path / "again"))
    simulate(other, start=DAY1, end=DAY1, sessions_per_day=400, seed=7)
    names = sorted(posixpath.basename(p) for p in other.raw_files(SENSOR, DAY1))
    assert names
    for name in names:
        a = lake.raw_fs.cat_file(lake.raw_path("zeek", SENSOR, DAY1.isoformat(), name))
        b = other.raw_fs.cat_file(other.raw_path("zeek", SENSOR, DAY1.isoformat(), name))
        assert a == b, name
        assert a[4:8] == b"\0\0\0\0" and not a[3] & 0x08  # gzip mtime 0, no file name
    third = Lake(str(tmp_path / "seed8"))
    simulate(third, start=DAY1, end=DAY1, sessions_per_day=400, seed=8)
    p = third.raw_path("zeek", SENSOR, DAY1.isoformat(), names[0])
    assert third.raw_fs.cat_file(p) != lake.raw_fs.cat_file(
        lake.raw_path("zeek", SENSOR, DAY1.isoformat(), names[0])
    )


def test_default_scenario_embodies_the_published_findings(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    s = simulate(lake, sessions_per_day=500, seed=2017)
    assert (s.start, s.end) == (dt.date(2017, 4, 1), dt.date(2017, 7, 6))
    gt = json.loads(lake.raw_fs.cat_file(s.ground_truth_path))
    p = gt["period"]
    shares = p["category_shares"]
    assert 0.62 <= shares["streaming"] + shares["gaming"] <= 0.68
    assert shares["obfuscation"] < 0.01
    ranking = p["service_ranking"]
    order = ["Facebook", "Google", "Baidu", "Instagram", "Alibaba", "Amazon", "Tencent", "Apple"]
    assert [ranking.index(n) for n in order] == sorted(ranking.index(n) for n in order)
    for name in ("Youku", "iTunes", "World of Tanks", "Steam", "BitTorrent", "Gmail", "163.com",
                 "Xinhua", "People's Daily", "Twitter"):  # fmt: skip
        assert p["service_counts"][name] > 0, name
    hourly = {int(h): v for h, v in p["hourly_profile"].items()}
    assert p["busiest_local_hour"] == 8
    assert all(hourly[h] > hourly[3] * 5 for h in range(9, 21))
    inbound = p["countries"]["inbound_sources"]  # planted scanners' probes included
    assert 0.18 <= inbound["IN"] <= 0.22
    suspect = gt["suspect"]
    assert len(suspect["scanners"]) == 5 and len(suspect["beacons"]) == 2
    assert {s["country"] for s in suspect["scanners"]} >= {"IN", "CN"}
    assert {"MY", "NZ", "NP", "KE", "MZ", "ID", "CN"} <= set(inbound)
    for day, v in gt["days"].items():
        btc = v["service_counts"].get("Bitcoin", 0) + v["service_counts"].get(
            "Bitcoin Mining Pool", 0
        )
        if day < "2017-05-17":
            assert btc == 0, day
        else:
            assert btc > 20, day  # hundreds a day at the default scale
    assert {e["date"] for e in gt["events"]} >= {"2017-05-17"}


def test_json_option_writes_zeek_json_lines(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    simulate(lake, start=DAY1, end=DAY1, sessions_per_day=200, fmt="json")
    path = lake.raw_files(SENSOR, DAY1)[0]
    lines = gzip.decompress(lake.raw_fs.cat_file(path)).decode().splitlines()
    rec = json.loads(lines[0])
    assert isinstance(rec["ts"], float) and rec["uid"].startswith("C")
    assert "tunnel_parents" not in rec  # unset fields are left out


def _validate_all(lake: Lake, days: list[dt.date]) -> tuple[Counter, Counter]:
    from assets.validated.transform import RawFile, log_table, validate_partition

    reasons, valid = Counter(), Counter()
    for day in days:
        for table in ("conn", "dns", "ssl", "http"):
            files = [
                RawFile(lake.raw_relpath(p), f, SENSOR, lambda p=p: lake.read_raw_bytes(p))
                for f in (day, day + dt.timedelta(days=1))
                for p in lake.raw_files(SENSOR, f)
                if log_table(posixpath.basename(p)) == table
            ]
            res = validate_partition(files, table, day)
            valid[(day.isoformat(), table)] = res.valid.height
            reasons.update(dict(res.quarantine.group_by("reason").len().iter_rows()))
    return reasons, valid


@pytest.mark.parametrize("fmt", ["tsv", "json"])
def test_validated_layer_quarantines_exactly_what_was_injected(tmp_path, fmt):
    pytest.importorskip("assets.validated.transform")
    lake = Lake(str(tmp_path / "lake"))
    s = simulate(lake, start=DAY1, end=DAY1 + dt.timedelta(days=1), sessions_per_day=500,
                 inject_rate=0.01, fmt=fmt, seed=3)  # fmt: skip
    gt = json.loads(lake.raw_fs.cat_file(s.ground_truth_path))
    days = [DAY1 + dt.timedelta(days=i) for i in range(3)]
    reasons, valid = _validate_all(lake, days)
    assert dict(reasons) == gt["injected"]["by_reason"] == s.injected
    assert len(s.injected) >= 6
    for (day, table), n in valid.items():
        assert n == gt["days"].get(day, {}).get("records", {}).get(table, 0)


def test_clean_run_has_no_quarantine(run):
    pytest.importorskip("assets.validated.transform")
    lake, _ = run
    reasons, _ = _validate_all(lake, [DAY1 + dt.timedelta(days=i) for i in range(4)])
    assert not reasons


def test_scenario_validation(tmp_path):
    sc = load_scenario()
    assert sc.timezone == "Asia/Pyongyang" and len(sc.networks) == 3
    bad = Path(tmp_path / "bad.yaml")
    text = Path(sc.source).read_text().replace("youku: {weight", "no_such_service: {weight")
    bad.write_text(text)
    with pytest.raises(ScenarioError, match="no_such_service"):
        load_scenario(bad)
    # a planted scanner may not probe a port the taxonomy names (it would read as VPN use)
    covered = Path(sc.source).read_text().replace("ports: [23, 2323]", "ports: [23, 1194]")
    bad.write_text(covered)
    with pytest.raises(ScenarioError, match="1194"):
        load_scenario(bad)
