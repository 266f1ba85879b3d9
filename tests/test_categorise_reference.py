"""Reference data: the repo files load, are validated, and rule tables resolve overlaps."""

from __future__ import annotations

import textwrap

import polars as pl
import pytest
from test_categorise_frames import reference

from assets.reference.loaders import ReferenceDataError, load_networks, load_taxonomy

STUDY_SERVICES = {
    "facebook": "Facebook",
    "google": "Google",
    "baidu": "Baidu",
    "instagram": "Instagram",
    "alibaba": "Alibaba",
    "amazon": "Amazon",
    "tencent_qq": "Tencent",
    "apple": "Apple",
    "youku": "Youku",
    "itunes": "iTunes",
    "world_of_tanks": "World of Tanks",
    "steam": "Steam",
    "bittorrent": "BitTorrent",
    "gmail": "Gmail",
    "netease_163": "163.com",
    "xinhua": "Xinhua",
    "peoples_daily": "People's Daily",
    "twitter": "Twitter",
}


def test_repo_taxonomy_covers_the_study_and_hundreds_of_services():
    tax = reference().taxonomy
    assert len(tax.service_list) >= 300
    for sid, name in STUDY_SERVICES.items():
        assert tax.service(sid).name == name
    cats = set(tax.services.get_column("category"))
    assert cats >= {
        "streaming", "gaming", "social", "search", "ecommerce", "email", "news", "messaging",
        "cloud", "software_updates", "p2p", "crypto", "obfuscation", "adult", "infrastructure",
    }  # fmt: skip
    for sid in ("tor", "openvpn", "wireguard", "ipsec_vpn", "pptp_vpn", "http_proxy"):
        assert tax.service(sid).category == "obfuscation"


def test_repo_networks_default_blocks():
    nets = reference().networks
    assert {n.cidr: n.label for n in nets.networks} == {
        "175.45.176.0/22": "Star JV",
        "210.52.109.0/24": "China Unicom",
        "77.94.35.0/24": "satellite range",
    }
    assert {n.timezone for n in nets.networks} == {"Asia/Pyongyang"}


def _port(tax, proto, port):
    hit = tax.port_rules.filter((pl.col("proto") == proto) & (pl.col("port") == port))
    return hit.get_column("service_id").to_list()


def test_port_rules_from_the_study():
    tax = reference().taxonomy
    assert _port(tax, "tcp", 8333) == ["bitcoin"]
    assert _port(tax, "udp", 6885) == ["bittorrent"] == _port(tax, "tcp", 6881)
    assert _port(tax, "udp", 1194) == ["openvpn"] == _port(tax, "tcp", 1194)
    assert _port(tax, "udp", 51820) == ["wireguard"]
    assert _port(tax, "udp", 500) == ["ipsec_vpn"] == _port(tax, "udp", 4500)
    assert _port(tax, "tcp", 1723) == ["pptp_vpn"]
    assert _port(tax, "udp", 123) == ["ntp_pool"]
    assert _port(tax, "tcp", 9001) == ["tor"]
    # the narrowest range wins: SIP's 5060 inside League of Legends' udp/5000-5500
    assert _port(tax, "udp", 5060) == ["sip"]
    assert _port(tax, "udp", 5100) == ["league_of_legends"]


def _write(tmp_path, text, name="taxonomy.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


BASE = """
version: t1
categories: [streaming, unknown]
services:
"""


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ("  - {id: a, name: A, category: nope}\n", "category 'nope'"),
        ("  - {id: a, name: A, category: streaming, ports: [tcp/99999]}\n", "bad port range"),
        ("  - {id: a, name: A, category: streaming, ports: [8333]}\n", "must be a list of strings"),
        ("  - {id: a, name: A, category: streaming, ports: [sctp/1]}\n", "bad port rule"),
        ("  - {id: a, name: A, category: streaming, ip_prefixes: [10.0.0.1/8]}\n", "bad ip prefix"),
        ("  - {id: a, name: A, category: streaming, domains: [http://x.com]}\n", "bad domain"),
        ("  - {id: a, name: A, category: streaming, colour: red}\n", "unknown keys"),
        ("  - {id: a, name: A, category: streaming}\n  - {id: a, name: B, category: streaming}\n",
         "duplicate id"),
        ("  - {id: a, name: A, category: streaming, domains: [x.com]}\n"
         "  - {id: b, name: B, category: streaming, domains: [X.com.]}\n",
         "already belongs to 'a'"),
        ("  - {id: a, name: A, category: streaming, ports: [udp/10-20]}\n"
         "  - {id: b, name: B, category: streaming, ports: [udp/20-30]}\n",
         "udp/20 is claimed by"),
    ],
)  # fmt: skip
def test_bad_taxonomy_is_rejected_with_a_clear_message(tmp_path, services, message):
    with pytest.raises(ReferenceDataError, match="taxonomy.yaml") as err:
        load_taxonomy(_write(tmp_path, BASE + services))
    assert message in str(err.value)


def test_taxonomy_domain_suffixes_normalised_and_nested_prefixes_flattened(tmp_path):
    tax = load_taxonomy(
        _write(
            tmp_path,
            BASE + "  - {id: a, name: A, category: streaming, domains: [Example.COM.], "
            "ip_prefixes: [10.0.0.0/8, '2001:db8::/32']}\n"
            "  - {id: b, name: B, category: streaming, ip_prefixes: [10.1.0.0/16, "
            "'2001:db8:1::/48']}\n",
        )
    )
    assert tax.domain_rules.get_column("suffix").to_list() == ["example.com"]
    # disjoint ranges, inner prefix cut out of the outer one
    assert tax.ip_rules.get_column("service_id").to_list() == ["a", "b", "a", "a", "b", "a"]


def test_bad_networks_are_rejected(tmp_path):
    p = tmp_path / "networks.yaml"
    p.write_text("networks:\n  - {cidr: 10.0.0.0/8, label: x, timezone: Mars/Olympus}\n")
    with pytest.raises(ReferenceDataError, match="unknown IANA time zone"):
        load_networks(p)
    p.write_text("networks:\n  - {cidr: 10.0.0.300/8, label: x, timezone: UTC}\n")
    with pytest.raises(ReferenceDataError, match="bad cidr"):
        load_networks(p)
    p.write_text("networks:\n  - {cidr: 10.0.0.0/8, timezone: UTC}\n")
    with pytest.raises(ReferenceDataError, match="missing label"):
        load_networks(p)


def _write_mmdb(path) -> None:
    """A real MaxMind-format database (IPv6 tree, IPv4 mapped), as MaxMind's tools write."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Country")
    writer.insert_network(IPSet(["1.0.0.0/24"]), {"country": {"iso_code": "AU"}})
    writer.insert_network(IPSet(["5.0.0.0/8"]), {"registered_country": {"iso_code": "de"}})
    writer.insert_network(IPSet(["6.0.0.0/8"]), {"continent": {"code": "EU"}})  # no country
    writer.insert_network(IPSet(["2a00::/16"]), {"country": {"iso_code": "GB"}})
    writer.to_db_file(str(path))


def test_maxmind_database_networks_become_the_range_table(tmp_path):
    from assets.reference import geo

    db = tmp_path / "country.mmdb"
    _write_mmdb(db)
    table = geo.mmdb_table(db)  # read by MaxMind's own reader (maxminddb)
    probe = pl.DataFrame({"ip": ["1.0.0.255", "1.0.1.0", "5.6.7.8", "6.1.1.1", "2a00:1::1"]})
    assert geo.countries(probe, "ip", table).to_list() == ["AU", None, "DE", None, "GB"]


def test_a_configured_maxmind_database_replaces_the_bundled_countries(tmp_path, monkeypatch):
    from assets.reference import geo
    from assets.reference.loaders import GEOIP_ENV, load_reference

    db = tmp_path / "country.mmdb"
    _write_mmdb(db)
    monkeypatch.setenv(GEOIP_ENV, str(db))
    ref = load_reference()
    probe = pl.DataFrame({"ip": ["1.0.0.7", "8.8.8.8"]})
    # 8.8.8.8 is US in the bundled data but absent from this database
    assert geo.countries(probe, "ip", ref.geo).to_list() == ["AU", None]
    monkeypatch.delenv(GEOIP_ENV)
    assert geo.countries(probe, "ip", load_reference().geo).to_list()[1] == "US"
