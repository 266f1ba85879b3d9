"""Hostname attribution: SNI > HTTP Host > passive DNS > none, and the DNS bounds."""

from __future__ import annotations

from test_categorise_frames import CLIENT, conn, dns, http, run, ssl


def _one(sessions, uid):
    return sessions.filter(sessions["uid"] == uid).row(0, named=True)


def test_each_source_and_precedence():
    s = run(
        [
            conn("ALL", "1.1.1.10"),  # sni + http + dns -> sni
            conn("HTTP_DNS", "1.1.1.11", 80),  # http + dns -> http
            conn("DNS", "1.1.1.12"),  # dns only
            conn("NONE", "1.1.1.13"),
        ],
        [
            dns("dns-for-all.example.org", ["1.1.1.10"]),
            dns("dns-for-http.example.org", ["1.1.1.11"]),
            dns("WWW.Baidu.COM.", ["www.a.shifen.com", "1.1.1.12"]),
        ],
        [ssl("ALL", "www.facebook.com")],
        [http("ALL", "ignored.example.net"), http("HTTP_DNS", "news.xinhuanet.com:8080")],
    )
    got = {r["uid"]: (r["hostname"], r["hostname_source"]) for r in s.iter_rows(named=True)}
    assert got == {
        "ALL": ("www.facebook.com", "sni"),
        "HTTP_DNS": ("news.xinhuanet.com", "http_host"),
        "DNS": ("www.baidu.com", "dns"),
        "NONE": (None, "none"),
    }
    assert _one(s, "DNS")["service"] == "Baidu"
    assert _one(s, "HTTP_DNS")["service"] == "Xinhua"


def test_passive_dns_uses_the_latest_answer_before_the_connection():
    s = run(
        [conn("C", "2.2.2.2", t=100)],
        [
            dns("old.example.com", ["2.2.2.2"], t=10),
            dns("new.example.com", ["2.2.2.2"], t=90),
            dns("after.example.com", ["2.2.2.2"], t=101),  # after the connection: not evidence
        ],
    )
    assert _one(s, "C")["hostname"] == "new.example.com"


def test_passive_dns_needs_the_same_client():
    s = run([conn("C", "2.2.2.2")], [dns("other.example.com", ["2.2.2.2"], client="175.45.176.99")])
    assert _one(s, "C")["hostname_source"] == "none"


def test_ttl_bound_and_recency_cap():
    conns = [conn("FRESH", "3.3.3.1", t=1000), conn("EXPIRED", "3.3.3.2", t=1000)]
    answers = [
        dns("fresh.example.com", ["3.3.3.1"], [300.0], t=1000 - 300),  # exactly at TTL: valid
        dns("stale.example.com", ["3.3.3.2"], [300.0], t=1000 - 301),  # one second past TTL
    ]
    s = run(conns, answers, dns_ttl_grace_s=0)
    assert _one(s, "FRESH")["hostname"] == "fresh.example.com"
    assert _one(s, "EXPIRED")["hostname"] is None
    # a grace period keeps slightly expired answers
    s = run(conns, answers, dns_ttl_grace_s=60)
    assert _one(s, "EXPIRED")["hostname"] == "stale.example.com"
    # a long TTL is still capped by the recency limit
    long = [dns("long.example.com", ["3.3.3.1"], [86400.0], t=0)]
    assert _one(run(conns[:1], long, dns_max_age_s=900), "FRESH")["hostname"] is None
    assert _one(run(conns[:1], long, dns_max_age_s=3600), "FRESH")["hostname"] == "long.example.com"


def test_answer_list_positions_pair_addresses_with_their_ttls():
    s = run(
        [conn("A", "4.4.4.1", t=100), conn("B", "4.4.4.2", t=100)],
        [dns("multi.example.com", ["cname.example", "4.4.4.1", "4.4.4.2"], [9e3, 5, 5e2], t=0)],
        dns_ttl_grace_s=0,
    )
    assert _one(s, "A")["hostname"] is None  # its own TTL (5 s) expired
    assert _one(s, "B")["hostname"] == "multi.example.com"


def test_previous_day_dns_reaches_connections_after_midnight():
    s = run([conn("C", "5.5.5.5", t=30)], [dns("late.example.com", ["5.5.5.5"], t=-60)])
    assert _one(s, "C")["hostname"] == "late.example.com"


V6_CLIENT = "2001:db8::5"


def test_ipv6_answers_and_connections():
    s = run(
        [conn("V6", "2a03:2880:f10c:83:face:b00c:0:25de", orig_h=V6_CLIENT)],
        [dns("star.c10r.facebook.com", ["2A03:2880:F10C:83:FACE:B00C:0:25DE"], client=V6_CLIENT)],
    )
    r = _one(s, "V6")
    assert (r["hostname"], r["hostname_source"], r["service"]) == (
        "star.c10r.facebook.com",
        "dns",
        "Facebook",
    )


def test_ip_literal_names_are_not_hostnames_and_fall_through():
    s = run(
        [conn("C", "6.6.6.6")],
        [dns("real.example.com", ["6.6.6.6"])],
        [ssl("C", "6.6.6.6")],
        [http("C", "[2001:db8::1]:8080")],
    )
    r = _one(s, "C")
    assert (r["hostname"], r["hostname_source"]) == ("real.example.com", "dns")


def test_several_ssl_or_http_records_per_uid_give_one_session():
    s = run(
        [conn("C", "7.7.7.7", 80)],
        https=[http("C", "first.example.com", t=100), http("C", "second.example.com", t=101)],
    )
    assert s.height == 1
    assert _one(s, "C")["hostname"] == "first.example.com"
    assert _one(s, "C")["local_ip"] == CLIENT
