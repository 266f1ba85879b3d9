"""Reference data chosen by configuration: category lists (UT1 format), AS rules, an ASN
database, content hashes recorded on the sessions."""

from __future__ import annotations

import textwrap

import polars as pl
import pytest
from test_categorise_frames import conn, frame, http, ssl

from assets.categorised.sessions import categorise
from assets.reference.category_lists import load_category_lists
from assets.reference.loaders import (
    CATEGORY_LISTS_ENV,
    NETWORKS_ENV,
    ReferenceDataError,
    load_reference,
    load_taxonomy,
)

MAPPING = """
categories:
  adult: adult
  gambling: gaming
  press: news
"""


def _lists(root, folders: dict[str, str]):
    for name, text in folders.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "domains").write_text(textwrap.dedent(text))
    mapping = root.parent / "map.yaml"
    mapping.write_text(MAPPING)
    return root, mapping


def _sessions(ref, names: dict[str, str]):
    conns = [conn(uid, f"93.184.216.{i + 1}") for i, uid in enumerate(names)]
    ssls = [ssl(uid, name) for uid, name in names.items()]
    s = categorise(
        frame("conn", conns), frame("dns", []), frame("ssl", ssls), frame("http", []),
        reference=ref,
    ).sessions  # fmt: skip
    return {r["uid"]: r for r in s.iter_rows(named=True)}


def test_category_lists_fill_what_the_taxonomy_does_not_know(tmp_path):
    root, mapping = _lists(
        tmp_path / "ut1",
        {
            "adult": "# comment\nnaughty.example\n203.0.113.9\n\nBÜCHER.example\n",
            "gambling": "bets.example\nnaughty.example\n",
            "press": "facebook.com\n",  # the taxonomy keeps priority
            "malware": "bad.example\n",  # not in the mapping: ignored
        },
    )
    ref = load_reference(category_lists=root, category_map=mapping)
    assert ref.category_lists.rules.height == 4  # naughty (once), xn--bcher-kva, bets, facebook
    r = _sessions(
        ref,
        {
            "A": "www.naughty.example",
            "B": "bets.example",
            "C": "www.facebook.com",
            "D": "bad.example",
            "E": "xn--bcher-kva.example",
        },
    )
    got = {u: (x["service"], x["category"], x["match_source"]) for u, x in r.items()}
    assert got == {
        "A": ("Unknown", "adult", "category_list"),  # adult is mapped first: it wins
        "B": ("Unknown", "gaming", "category_list"),
        "C": ("Facebook", "social", "domain"),
        "D": ("Unknown", "unknown", "none"),
        "E": ("Unknown", "adult", "category_list"),
    }
    version = r["A"]["reference_version"]
    assert f"category_lists={ref.category_lists.sha256[:16]}" in version
    assert f"taxonomy={ref.taxonomy.sha256[:16]}" in version


def test_content_hash_follows_the_list_contents(tmp_path):
    root, mapping = _lists(tmp_path / "ut1", {"adult": "a.example\n"})
    first = load_category_lists(root, mapping, load_taxonomy().categories).sha256
    (root / "adult" / "domains").write_text("a.example\nb.example\n")
    second = load_category_lists(root, mapping, load_taxonomy().categories).sha256
    assert first != second and len(first) == 64
    default = load_reference()
    assert default.version.endswith("category_lists=none")


def test_bad_category_lists_are_rejected(tmp_path):
    cats = load_taxonomy().categories
    root, mapping = _lists(tmp_path / "ut1", {"adult": "a.example\n"})
    with pytest.raises(ReferenceDataError, match="directory not found"):
        load_category_lists(tmp_path / "missing", mapping, cats)
    bad = tmp_path / "bad.yaml"
    bad.write_text("categories: {adult: smut}\n")
    with pytest.raises(ReferenceDataError, match="'smut' is not a taxonomy category"):
        load_category_lists(root, bad, cats)
    bad.write_text("categories: {gambling: gaming}\n")
    with pytest.raises(ReferenceDataError, match="none of the mapped categories"):
        load_category_lists(root, bad, cats)


def test_environment_points_hermit_at_a_users_own_files(tmp_path, monkeypatch):
    nets = tmp_path / "nets.yaml"
    nets.write_text("networks:\n  - {cidr: 198.51.100.0/24, label: office, timezone: UTC}\n")
    root, mapping = _lists(tmp_path / "ut1", {"adult": "naughty.example\n"})
    monkeypatch.setenv(NETWORKS_ENV, str(nets))
    monkeypatch.setenv(CATEGORY_LISTS_ENV, str(root))
    monkeypatch.setenv("HERMIT_CATEGORY_MAP", str(mapping))
    ref = load_reference()
    assert [n.label for n in ref.networks.networks] == ["office"]
    assert ref.category_lists.rules.height == 1
    s = categorise(
        frame("conn", [conn("A", "93.184.216.1", orig_h="198.51.100.7")]),
        frame("dns", []), frame("ssl", []), frame("http", [http("A", "naughty.example")]),
        reference=ref,
    ).sessions  # fmt: skip
    assert s.row(0, named=True)["network"] == "office"
    assert s.row(0, named=True)["category"] == "adult"


BASE = "version: t1\ncategories: [cloud, streaming, unknown]\nservices:\n"


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ("  - {id: a, name: A, category: cloud, asns: [16509]}\n", "must be a list of strings"),
        ("  - {id: a, name: A, category: cloud, asns: [AMAZON-02]}\n", "bad AS rule"),
        ("  - {id: a, name: A, category: cloud, asns: [AS0]}\n", "bad AS rule"),
        ("  - {id: a, name: A, category: cloud, provider: yes please}\n", "true or false"),
        ("  - {id: a, name: A, category: cloud, provider: true, cert_orgs: [Acme]}\n",
         "not allowed with `provider: true`"),
        ("  - {id: a, name: A, category: cloud, asns: [AS1 X]}\n"
         "  - {id: b, name: B, category: cloud, asns: [AS1 Y]}\n", "AS1 already belongs to 'a'"),
        ("  - {id: a, name: A, category: cloud, asns: [AS1 X]}\n"
         "  - {id: b, name: B, category: cloud, asns: [AS2 X]}\n", "'X' is already AS1"),
        ("  - {id: a, name: A, category: cloud, cert_orgs: [Acme]}\n"
         "  - {id: b, name: B, category: cloud, cert_orgs: [ACME]}\n", "already belongs to 'a'"),
    ],
)  # fmt: skip
def test_bad_as_and_certificate_rules_are_rejected(tmp_path, services, message):
    p = tmp_path / "taxonomy.yaml"
    p.write_text(BASE + services)
    with pytest.raises(ReferenceDataError, match="taxonomy.yaml") as err:
        load_taxonomy(p)
    assert message in str(err.value)


def test_as_rules_and_provider_tables(tmp_path):
    p = tmp_path / "taxonomy.yaml"
    p.write_text(
        BASE + "  - {id: a, name: A, category: cloud, provider: true, domains: [a.example],"
        " asns: [AS64500 A-NET, AS64501]}\n"
        "  - {id: b, name: B, category: streaming, cert_orgs: [B Corp.]}\n"
    )
    t = load_taxonomy(p)
    assert t.asn_rules.rows() == [(64500, "a"), (64501, "a")]
    assert t.asn_numbers == {"A-NET": 64500}
    assert t.provider_ids == {"a"} and t.provider_domains["suffix"].to_list() == ["a.example"]
    assert t.cert_org_rules.rows() == [("b corp.", "b")]


def test_a_configured_asn_database_gives_numbers_for_every_address(tmp_path):
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    from assets.reference.asn import lookup_asns, mmdb_source

    db = tmp_path / "asn.mmdb"
    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN")
    w.insert_network(
        IPSet(["198.51.100.0/24"]),
        {"autonomous_system_number": 64496, "autonomous_system_organization": "EXAMPLE-NET"},
    )
    w.to_db_file(str(db))
    got = lookup_asns(pl.Series(["198.51.100.5", "192.0.2.1", "bad"]), mmdb_source(db))
    assert got.rows() == [(64496, "EXAMPLE-NET"), (None, None), (None, None)]
    ref = load_reference(asn_mmdb=str(db))
    assert ref.asn.name.startswith("mmdb:")
