"""Categorised sessions from both sources: flow sessions go through the same chain as Zeek
connections, named by passive DNS where the network has a dns log, else by address: IP
prefix, then the remote AS (the exporter's own AS field first)."""

from __future__ import annotations

import polars as pl
import pytest
from test_categorise_frames import T0, conn, dns, frame, reference
from test_flow_sessions import CLIENT, record
from test_flow_sessions import frame as flow_frame

from assets.categorised.from_flows import categorise_day, categorise_flows
from assets.categorised.sessions import SESSIONS_SCHEMA

# the test_flow_sessions records start at their own T0; line them up with the dns frames
assert T0.date().isoformat() == "2017-05-17"


def _flows(rows) -> pl.DataFrame:
    f = flow_frame(rows)
    shift = T0 - f.get_column("start").min() if f.height else None
    return f if shift is None else f.with_columns(pl.col("start", "end") + shift)


def _empty(table: str) -> pl.DataFrame:
    return frame(table, [])


def _by_remote(sessions: pl.DataFrame) -> dict[str, dict]:
    return {r["remote_ip"]: r for r in sessions.iter_rows(named=True)}


def test_both_sources_in_one_day_with_their_source_and_sampling():
    flows = _flows(
        [
            record(CLIENT, 51000, "52.95.110.1", 443, 0, 5, rate=10),
            record("52.95.110.1", 443, CLIENT, 51000, 0.01, 5, rate=10),
        ]
    )
    result = categorise_day(
        frame("conn", [conn("Z1", "1.1.1.1")]),
        flows,
        _empty("dns"),
        _empty("ssl"),
        _empty("http"),
        reference=reference(),
    )
    s = result.sessions
    assert s.schema == pl.Schema(SESSIONS_SCHEMA)
    zeek = s.filter(source="zeek").row(0, named=True)
    flow = s.filter(source="flow").row(0, named=True)
    assert (zeek["uid"], zeek["flows"], zeek["sampling_rate"], zeek["estimated"]) == (
        "Z1",
        None,
        1,
        False,
    )
    assert (flow["flows"], flow["sampling_rate"], flow["estimated"]) == (2, 10, True)
    assert flow["orig_bytes"] == 10_000 and flow["resp_bytes"] == 10_000
    assert flow["app_protocol"] is None and flow["conn_state"] is None
    assert flow["direction"] == "outbound" and flow["local_ip"] == CLIENT
    assert result.stats["sessions_zeek"] == 1 and result.stats["sessions_flow"] == 1
    assert result.stats["validated_flows"] == 2


def test_a_day_with_only_flows_or_only_zeek():
    flows = _flows([record(CLIENT, 51000, "52.95.110.1", 443, 0, 5)])
    only_flows = categorise_day(
        None, flows, _empty("dns"), _empty("ssl"), _empty("http"), reference=reference()
    )
    assert only_flows.sessions.get_column("source").to_list() == ["flow"]
    only_zeek = categorise_day(
        frame("conn", [conn("Z1", "1.1.1.1")]),
        None,
        _empty("dns"),
        _empty("ssl"),
        _empty("http"),
        reference=reference(),
    )
    assert only_zeek.sessions.get_column("source").to_list() == ["zeek"]
    with pytest.raises(ValueError, match="neither"):
        categorise_day(
            None, None, _empty("dns"), _empty("ssl"), _empty("http"), reference=reference()
        )


def test_flows_are_attributed_by_prefix_then_as_and_a_cloud_as_names_only_the_provider():
    flows = _flows(
        [
            # AMAZON-02 in the bundled ASN data, outside the taxonomy's AWS prefixes
            record(CLIENT, 51000, "52.95.110.1", 443, 0, 5),
            # a Netflix prefix
            record(CLIENT, 51001, "45.57.1.1", 443, 0, 5),
            # the exporter says AS32934 (Facebook) for an address the lookup cannot place
            record(CLIENT, 51002, "198.51.100.7", 443, 0, 5, dst_as=32934),
            # CLOUDFLARENET, inside Cloudflare's prefixes too
            record(CLIENT, 51003, "104.16.0.1", 443, 0, 5),
            # DIGITALOCEAN-ASN: a droplet is the provider's, never the service it hosts
            record(CLIENT, 51004, "64.225.56.201", 443, 0, 5),
        ]
    )
    r = _by_remote(categorise_flows(flows, _empty("dns"), reference=reference()).sessions)
    aws = r["52.95.110.1"]
    assert (aws["service"], aws["category"], aws["match_source"]) == (
        "Amazon Web Services",
        "cloud",
        "asn",
    )
    assert (aws["remote_asn"], aws["remote_org"]) == (16509, "AMAZON-02")
    assert (r["45.57.1.1"]["service"], r["45.57.1.1"]["match_source"]) == ("Netflix", "ip_prefix")
    fb = r["198.51.100.7"]
    assert (fb["service"], fb["category"], fb["match_source"]) == ("Facebook", "social", "asn")
    assert (fb["remote_asn"], fb["remote_org"]) == (32934, "FACEBOOK")
    assert r["104.16.0.1"]["category"] == "infrastructure"
    assert r["104.16.0.1"]["remote_org"] == "CLOUDFLARENET"
    do = r["64.225.56.201"]
    assert (do["service"], do["category"], do["match_source"]) == ("DigitalOcean", "cloud", "asn")
    assert all(row["hostname_source"] == "none" for row in r.values())


def test_passive_dns_names_flow_sessions_where_the_network_has_a_dns_log():
    flows = _flows(
        [
            record(CLIENT, 51000, "52.95.110.1", 443, 0, 5),
            record("52.95.110.1", 443, CLIENT, 51000, 0.01, 5),
        ]
    )
    answers = frame("dns", [dns("www.netflix.com", ["52.95.110.1"], t=-10.0)])
    s = categorise_flows(flows, answers, reference=reference()).sessions
    row = s.row(0, named=True)
    assert (row["hostname"], row["hostname_source"]) == ("www.netflix.com", "dns")
    assert (row["service"], row["match_source"]) == ("Netflix", "domain")


def test_flow_session_ids_are_deterministic_and_unique():
    rows = [record(CLIENT, 51000 + i, "52.95.110.1", 443, i, i + 1) for i in range(20)]
    a = categorise_flows(_flows(rows), _empty("dns"), reference=reference()).sessions
    b = categorise_flows(_flows(rows[::-1]), _empty("dns"), reference=reference()).sessions
    assert a.get_column("uid").to_list() == b.get_column("uid").to_list()
    assert a.select("sensor", "uid").is_unique().all()


# Real addresses whose origin AS the bundled geoip2fast ASN data names as a cloud, CDN or
# hosting company: a flow to them names the provider and its category, never a service.
PROVIDER_ADDRESSES = [
    ("52.95.110.1", "AMAZON-02", "Amazon Web Services", "cloud"),
    ("18.254.244.60", "Amazon Data Services Ireland Ltd", "Amazon Web Services", "cloud"),
    ("13.64.1.1", "MICROSOFT-CORP-MSN-AS-BLOCK", "Microsoft Azure", "cloud"),
    ("35.184.1.1", "GOOGLE-CLOUD-PLATFORM", "Google Cloud", "cloud"),
    ("34.101.3.250", "Google Asia Pacific Pte. Ltd.", "Google Cloud", "cloud"),
    ("47.88.1.1", "Alibaba US Technology Co., Ltd.", "Alibaba Cloud", "cloud"),
    ("119.28.1.1", "Tencent Building, Kejizhongyi Avenue", "Tencent Cloud", "cloud"),
    ("104.16.0.1", "CLOUDFLARENET", "Cloudflare", "infrastructure"),
    ("162.44.59.177", "Cloudflare London, LLC", "Cloudflare", "infrastructure"),
    ("23.0.0.1", "Akamai International B.V.", "Akamai", "infrastructure"),
    ("151.101.1.1", "FASTLY", "Fastly", "infrastructure"),
    ("159.65.1.1", "DIGITALOCEAN-ASN", "DigitalOcean", "cloud"),
    ("51.38.1.1", "OVH SAS", "OVH", "cloud"),
    ("88.198.1.1", "Hetzner Online GmbH", "Hetzner", "cloud"),
    ("139.162.1.1", "Akamai Connected Cloud", "Akamai Connected Cloud (Linode)", "cloud"),
    ("163.110.151.116", "SOFTLAYER", "IBM Cloud", "cloud"),
    ("92.114.87.167", "LeaseWeb Netherlands B.V.", "Leaseweb", "cloud"),
    ("119.13.96.175", "HUAWEI CLOUDS", "Huawei Cloud", "cloud"),
]


@pytest.mark.parametrize(("ip", "org", "service", "category"), PROVIDER_ADDRESSES)
def test_a_flow_to_a_cloud_cdn_or_hosting_as_names_the_provider(ip, org, service, category):
    flows = _flows([record(CLIENT, 51000, ip, 443, 0, 5), record(ip, 443, CLIENT, 51000, 0.1, 5)])
    row = categorise_flows(flows, _empty("dns"), reference=reference()).sessions.row(0, named=True)
    assert row["remote_org"] == org and row["remote_asn"] is not None
    assert (row["service"], row["category"]) == (service, category)
    assert row["match_source"] in ("ip_prefix", "asn")
