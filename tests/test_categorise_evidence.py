"""Certificate and AS evidence: recorded per session, and never naming a hosted service
after its cloud provider's AS or a CDN's shared certificate."""

from __future__ import annotations

import polars as pl
import pytest
from test_categorise_frames import conn, dns, frame, reference, ssl

from assets.categorised.sessions import categorise
from assets.reference.asn import geoip2fast_source, lookup_asns

CLOUDFRONT = r"CN=*.cloudfront.net,O=Amazon.com\, Inc.,L=Seattle,ST=Washington,C=US"
CLOUDFLARE = r"CN=sni.cloudflaressl.com,O=Cloudflare\, Inc.,L=San Francisco,C=US"
FACEBOOK = r"CN=*.facebook.com,O=Facebook\, Inc.,L=Menlo Park,ST=California,C=US"


def _cert(uid: str, name: str | None, subject: str) -> dict:
    return {**ssl(uid, name), "subject": subject}


def _run(conns, ssls=(), dnss=()):
    return {
        r["uid"]: r
        for r in categorise(
            frame("conn", list(conns)),
            frame("dns", list(dnss)),
            frame("ssl", list(ssls)),
            frame("http", []),
            reference=reference(),
        ).sessions.iter_rows(named=True)
    }


def test_a_hosted_site_is_never_named_after_its_cloud_as_or_cdn_certificate():
    r = _run(
        [
            conn("CLOUDFRONT_SITE", "54.230.86.87"),  # AMAZON-02, inside an AWS prefix too
            conn("CLOUDFLARE_SITE", "104.16.0.1"),  # CLOUDFLARENET
            conn("DO_SITE", "64.225.56.201"),  # DIGITALOCEAN-ASN
            conn("CDN_CERT_NO_NAME", "52.95.110.1"),  # AMAZON-02, outside the AWS prefixes
        ],
        [
            _cert("CLOUDFRONT_SITE", "shop.example-brand.org", CLOUDFRONT),
            _cert("CLOUDFLARE_SITE", "www.some-store.example", CLOUDFLARE),
            ssl("DO_SITE", "api.small-startup.example"),
            _cert("CDN_CERT_NO_NAME", None, CLOUDFRONT),
        ],
    )
    for uid in ("CLOUDFRONT_SITE", "CLOUDFLARE_SITE", "DO_SITE"):
        assert (r[uid]["service"], r[uid]["category"], r[uid]["match_source"]) == (
            "Unknown",
            "unknown",
            "none",
        ), uid
    # the evidence is still recorded, for the analyst
    assert r["CLOUDFRONT_SITE"]["remote_org"] == "AMAZON-02"
    assert r["CLOUDFRONT_SITE"]["remote_asn"] == 16509
    assert r["CLOUDFRONT_SITE"]["cert_org"] == "Amazon.com, Inc."
    assert r["CLOUDFRONT_SITE"]["cert_name"] == "cloudfront.net"
    assert r["CLOUDFLARE_SITE"]["remote_org"] == "CLOUDFLARENET"
    assert r["DO_SITE"]["remote_org"] == "DIGITALOCEAN-ASN"
    # a CloudFront certificate is Amazon's, but says nothing about Amazon the shop: without a
    # hostname the session is the provider's (by its AS), never Amazon's ecommerce service
    assert (r["CDN_CERT_NO_NAME"]["service"], r["CDN_CERT_NO_NAME"]["match_source"]) == (
        "Amazon Web Services",
        "asn",
    )
    assert r["CDN_CERT_NO_NAME"]["category"] == "cloud"


def test_certificate_organisation_names_an_unknown_hostname_of_a_known_company():
    r = _run(
        [conn("FB", "157.240.0.1"), conn("FB_NAMED", "157.240.0.1")],
        [
            _cert("FB", "edge-unknown.example-fb-partner.net", FACEBOOK),
            _cert("FB_NAMED", "www.some-store.example", CLOUDFLARE),
        ],
    )
    assert (r["FB"]["service"], r["FB"]["match_source"], r["FB"]["cert_org"]) == (
        "Facebook",
        "cert_org",
        "Facebook, Inc.",
    )
    # Cloudflare's certificate never names a service (providers carry no cert_orgs)
    assert r["FB_NAMED"]["service"] == "Unknown"


def test_provider_as_yields_to_port_rules_and_service_as_names_its_owner():
    r = _run(
        [
            conn("VPN_ON_DROPLET", "64.225.56.201", 1194, proto="udp"),
            conn("DROPLET_HTTPS", "64.225.56.202", 443),
            conn("GOOGLE_AS", "142.250.0.1", 5228),
        ]
    )
    assert r["VPN_ON_DROPLET"]["service"] == "OpenVPN"
    assert (r["DROPLET_HTTPS"]["service"], r["DROPLET_HTTPS"]["match_source"]) == (
        "DigitalOcean",
        "asn",
    )
    assert r["GOOGLE_AS"]["service"] == "Google"
    assert r["GOOGLE_AS"]["match_source"] in ("ip_prefix", "asn")


def test_every_public_session_gets_its_as_organisation_and_private_ones_none():
    r = _run(
        [conn("PUB", "8.8.8.8", 53, proto="udp"), conn("LAN", "10.1.2.3", 445)],
        dnss=[dns("example.org", ["93.184.216.34"])],
    )
    assert r["PUB"]["remote_org"] == "GOOGLE" and r["PUB"]["remote_asn"] == 15169
    assert r["LAN"]["remote_org"] is None and r["LAN"]["remote_asn"] is None


def test_lookup_asns_keeps_order_and_length_and_nulls_what_it_cannot_read():
    ips = pl.Series(["1.1.1.1", None, "not an ip", "192.168.1.1", "1.1.1.1", "2a03:2880::1"])
    got = lookup_asns(ips, geoip2fast_source(), {"CLOUDFLARENET": 13335})
    assert got.schema == pl.Schema({"remote_asn": pl.UInt32, "remote_org": pl.String})
    assert got["remote_org"].to_list() == [
        "CLOUDFLARENET",
        None,
        None,
        None,
        "CLOUDFLARENET",
        "FACEBOOK",
    ]
    assert got["remote_asn"].to_list() == [13335, None, None, None, 13335, None]


def test_mmdb_source_names_a_missing_file():
    from assets.reference.asn import mmdb_source

    with pytest.raises(FileNotFoundError, match="ASN database not found"):
        mmdb_source("/nonexistent/GeoLite2-ASN.mmdb")


def test_simulating_a_population_leaves_the_asn_lookup_of_the_same_process_intact():
    # geoip2fast keeps its tables in module globals: the simulator once opened its default
    # IPv4-only file, and every later IPv6 lookup in the process (a demo, a test run) was null
    from assets.simulate.population import build_population
    from assets.simulate.scenario import load_scenario

    before = lookup_asns(pl.Series(["2a03:2880::1"]), geoip2fast_source())
    build_population(load_scenario(), seed=3)
    geoip2fast_source()._cache.clear()  # ask the library again, not the cache
    after = lookup_asns(pl.Series(["2a03:2880::1", "1.1.1.1"]), geoip2fast_source())
    assert before["remote_org"].to_list() == ["FACEBOOK"]
    assert after["remote_org"].to_list() == ["FACEBOOK", "CLOUDFLARENET"]
