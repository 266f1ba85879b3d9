"""Registered domains through the Public Suffix List, and domain-suffix matching."""

from __future__ import annotations

import polars as pl
from test_categorise_frames import conn, reference, run, ssl

from assets.categorised.classify import match_domains
from assets.categorised.domains import registered_domains


def _reg(names):
    got = registered_domains(pl.Series(names))
    return dict(zip(got["hostname"], got["registered_domain"], strict=True))


def test_psl_edge_cases():
    got = _reg(
        [
            "www.bbc.co.uk",  # two-label public suffix
            "a.b.c.kawasaki.jp",  # wildcard rule *.kawasaki.jp
            "city.kawasaki.jp",  # exception rule !city.kawasaki.jp
            "news.people.com.cn",  # three-label suffix chain
            "foo.blogspot.com",  # private-section suffix: ICANN registered domain
            "co.uk",  # a bare public suffix has no registered domain
            "localhost",
            "www.example.com",
        ]
    )
    assert got == {
        "www.bbc.co.uk": "bbc.co.uk",
        "a.b.c.kawasaki.jp": "b.c.kawasaki.jp",
        "city.kawasaki.jp": "city.kawasaki.jp",
        "news.people.com.cn": "people.com.cn",
        "foo.blogspot.com": "blogspot.com",
        "co.uk": None,
        "localhost": None,
        "www.example.com": "example.com",
    }


def test_ip_literals_have_no_registered_domain():
    assert _reg(["1.2.3.4", "2001:db8::1"]) == {}


def test_idn_is_matched_in_ascii_form():
    got = registered_domains(pl.Series(["www.bücher.de"])).row(0, named=True)
    assert got["ascii_hostname"] == "www.xn--bcher-kva.de"
    assert got["registered_domain"] == "xn--bcher-kva.de"


def test_sessions_normalise_case_and_trailing_dots():
    s = run(
        [conn("C", "9.9.9.1"), conn("D", "9.9.9.2")],
        ssls=[ssl("C", "WWW.BBC.CO.UK."), ssl("D", "Mail.QQ.com")],
    )
    rows = {r["uid"]: r for r in s.iter_rows(named=True)}
    assert (rows["C"]["hostname"], rows["C"]["registered_domain"]) == ("www.bbc.co.uk", "bbc.co.uk")
    assert rows["C"]["service"] == "BBC"
    assert rows["D"]["service"] == "QQ Mail"  # mail.qq.com is longer than qq.com


def test_suffix_matches_whole_labels_only():
    rules = reference().taxonomy.domain_rules
    got = match_domains(pl.Series(["qq.com", "v.qq.com", "notqq.com", "qq.com.evil.net"]), rules)
    by = dict(zip(got["name"], got["service_id"], strict=True))
    assert by == {
        "qq.com": "tencent_qq",
        "v.qq.com": "tencent_video",
        "notqq.com": None,
        "qq.com.evil.net": None,
    }
