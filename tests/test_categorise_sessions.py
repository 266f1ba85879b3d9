"""categorise(): schema, direction and networks, local time, geo, classification rules."""

from __future__ import annotations

import datetime as dt

import polars as pl
from test_categorise_frames import conn, dns, frame, reference, run, ssl

from assets.categorised.sessions import SESSIONS_SCHEMA, categorise
from assets.categorised.unknown import unknown_domains


def _by_uid(s):
    return {r["uid"]: r for r in s.iter_rows(named=True)}


def test_schema_and_one_row_per_connection_even_with_empty_side_tables():
    s = run([conn("A", "8.8.8.8", 53, proto="udp"), conn("B", "1.2.3.4")])
    assert s.schema == pl.Schema(SESSIONS_SCHEMA)
    assert s["uid"].to_list() == ["A", "B"]
    empty = run([])
    assert empty.height == 0 and empty.schema == pl.Schema(SESSIONS_SCHEMA)


def test_direction_and_network_at_cidr_boundaries():
    s = run(
        [
            conn("FIRST", "1.2.3.4", orig_h="175.45.176.0"),  # first address of the /22
            conn("LAST", "1.2.3.4", orig_h="175.45.179.255"),  # last address of the /22
            conn("BELOW", "1.2.3.4", orig_h="175.45.175.255"),  # just outside
            conn("ABOVE", "1.2.3.4", orig_h="175.45.180.0"),
            conn("IN", "210.52.109.7", orig_h="5.6.7.8"),
            conn("INT", "77.94.35.9", orig_h="175.45.177.1"),
        ]
    )
    r = _by_uid(s)
    assert (r["FIRST"]["direction"], r["FIRST"]["network"]) == ("outbound", "Star JV")
    assert (r["LAST"]["direction"], r["LAST"]["network"]) == ("outbound", "Star JV")
    assert (r["BELOW"]["direction"], r["BELOW"]["network"], r["BELOW"]["local_ip"]) == (
        "transit",
        None,
        None,
    )
    assert r["ABOVE"]["direction"] == "transit"
    assert (r["IN"]["direction"], r["IN"]["network"]) == ("inbound", "China Unicom")
    assert (r["IN"]["local_ip"], r["IN"]["remote_ip"]) == ("210.52.109.7", "5.6.7.8")
    assert (r["INT"]["direction"], r["INT"]["network"]) == ("internal", "Star JV")


def test_local_time_follows_the_zone_history():
    when = {
        "Y2015": dt.datetime(2015, 8, 1, 0, 30, tzinfo=dt.UTC),  # UTC+09:00
        "Y2017": dt.datetime(2017, 5, 17, 23, 45, tzinfo=dt.UTC),  # UTC+08:30, next day
        "Y2019": dt.datetime(2019, 1, 6, 0, 30, tzinfo=dt.UTC),  # UTC+09:00 again
    }
    rows = [conn(uid, "1.2.3.4") | {"ts": ts} for uid, ts in when.items()]
    r = _by_uid(run(rows))
    assert (r["Y2015"]["local_hour"], r["Y2015"]["local_date"]) == (9, dt.date(2015, 8, 1))
    assert (r["Y2017"]["local_hour"], r["Y2017"]["local_date"]) == (8, dt.date(2017, 5, 18))
    assert r["Y2017"]["local_weekday"] == 4  # Thursday 18 May 2017
    assert (r["Y2019"]["local_hour"], r["Y2019"]["local_weekday"]) == (9, 7)


def test_remote_country_ipv4_ipv6_and_private():
    r = _by_uid(
        run(
            [
                conn("V4", "8.8.8.8", 53, proto="udp"),
                conn("V6", "2a03:2880:f10c:83:face:b00c:0:25de"),
                conn("PRIV", "10.1.2.3"),
                conn("DOC", "2001:db8::1"),
            ]
        )
    )
    assert r["V4"]["remote_country"] == "US"
    assert r["V6"]["remote_country"] is not None and len(r["V6"]["remote_country"]) == 2
    assert r["PRIV"]["remote_country"] is None
    assert r["DOC"]["remote_country"] is None


def test_rule_order_domain_then_ip_prefix_then_port():
    r = _by_uid(
        run(
            [
                conn("DOMAIN", "17.1.1.1", 8333),  # Apple address, bitcoin port, Steam name
                conn("PREFIX", "17.1.1.1", 8333),  # no name: the IP prefix wins over the port
                conn("PORT", "5.6.7.8", 8333),
                conn("UNKNOWN_NAME", "17.1.1.2"),  # a name no rule knows stays unknown
                conn("NOTHING", "5.6.7.8", 4444, proto="udp"),
                conn("V6PREFIX", "2606:4700:4700::1111", 53, proto="udp"),  # nested prefix
            ],
            ssls=[ssl("DOMAIN", "store.steampowered.com"), ssl("UNKNOWN_NAME", "x.example.org")],
        )
    )
    got = {u: (x["service"], x["category"], x["match_source"]) for u, x in r.items()}
    assert got == {
        "DOMAIN": ("Steam", "gaming", "domain"),
        "PREFIX": ("Apple", "other", "ip_prefix"),
        "PORT": ("Bitcoin", "crypto", "port"),
        "UNKNOWN_NAME": ("Unknown", "unknown", "none"),
        "NOTHING": ("Unknown", "unknown", "none"),
        "V6PREFIX": ("Cloudflare DNS", "infrastructure", "ip_prefix"),
    }


def test_tor_and_vpn_are_obfuscation():
    r = _by_uid(
        run(
            [
                conn("TOR_SNI", "5.9.1.1", 443),
                conn("TOR_PORT", "5.9.1.2", 9001),
                conn("RESOLVED", "5.9.1.3", 443),  # relay-like name the client resolved
                conn("OVPN", "5.9.1.4", 1194, proto="udp"),
                conn("WG", "5.9.1.5", 51820, proto="udp"),
                conn("IPSEC", "5.9.1.6", 4500, proto="udp"),
                conn("PPTP", "5.9.1.7", 1723),
            ],
            [dns("www.q2w3e4r5t6.com", ["5.9.1.3"])],
            [
                ssl("TOR_SNI", "www.k7cj2vzqd4u3.net"),
                ssl("TOR_PORT", "www.abcdefghijk.com"),
                ssl("RESOLVED", "www.q2w3e4r5t6.com"),
            ],
        )
    )
    assert {u: x["service"] for u, x in r.items() if u != "RESOLVED"} == {
        "TOR_SNI": "Tor",
        "TOR_PORT": "Tor",
        "OVPN": "OpenVPN",
        "WG": "WireGuard",
        "IPSEC": "IPsec VPN",
        "PPTP": "PPTP VPN",
    }
    assert {x["category"] for u, x in r.items() if u != "RESOLVED"} == {"obfuscation"}
    assert r["RESOLVED"]["service"] == "Unknown"


ORG_1_1_2 = "CLOUDFLARENET"  # the bundled ASN data for 1.1.0.0/16 (APNIC+Cloudflare)


def test_stats_and_unknown_domains():
    conns = [
        conn("A", "1.1.2.1", nbytes=(10, 90)),
        conn("B", "1.1.2.2", nbytes=(0, 100)),
        conn("C", "1.1.2.3", orig_h="175.45.176.11", nbytes=(50, 50)),
        conn("D", "1.1.2.4", nbytes=(100, 200)),
    ]
    ssls = [
        ssl("A", "cdn.unknown-shop.cn"),
        ssl("B", "api.unknown-shop.cn"),
        ssl("C", "cdn.unknown-shop.cn"),
        ssl("D", "www.youtube.com"),
    ]
    res = categorise(
        frame("conn", conns),
        frame("dns", []),
        frame("ssl", ssls),
        frame("http", []),
        reference=reference(),
    )
    st = res.stats
    assert st["sessions"] == 4 and st["bytes"] == 600
    assert st["share_sessions_with_hostname"] == 1.0
    assert st["share_sessions_with_service"] == 0.25
    assert st["share_bytes_with_service"] == 0.5
    assert st["sessions_by_hostname_source"] == {"sni": 4, "http_host": 0, "dns": 0, "none": 0}
    top = unknown_domains(res.sessions)
    assert top.to_dicts() == [
        {
            "registered_domain": "unknown-shop.cn",
            "sessions": 3,
            "bytes": 300,
            "clients": 2,
            "example_hostname": "cdn.unknown-shop.cn",
            "cert_org": None,
            "remote_org": ORG_1_1_2,
        }
    ]
