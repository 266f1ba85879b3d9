"""`hermit taxonomy unknown` and `hermit taxonomy check`."""

from __future__ import annotations

import datetime as dt

import polars as pl
from test_categorise_frames import conn, frame, reference, ssl

from assets.categorised.sessions import categorise
from assets.categorised.unknown import unknown_report
from assets.lake import Lake
from assets.reference.check import check_taxonomy
from workflows.cli import main

DAY = dt.date(2017, 5, 17)
AMAZON_CERT = r"CN=*.cloudfront.net,O=Amazon.com\, Inc.,C=US"


def _sessions():
    conns = [conn(f"U{i}", "54.230.86.87", nbytes=(10, 90)) for i in range(3)]
    conns += [conn("K", "157.240.0.1"), conn("O", "93.184.216.34", nbytes=(1, 1))]
    ssls = [{**ssl(f"U{i}", f"img{i}.tiny-shop.example"), "subject": AMAZON_CERT} for i in range(3)]
    ssls += [ssl("K", "www.facebook.com"), ssl("O", "other.example")]
    return categorise(
        frame("conn", conns), frame("dns", []), frame("ssl", ssls), frame("http", []),
        reference=reference(),
    ).sessions  # fmt: skip


def test_unknown_report_ranks_unnamed_domains_with_their_evidence():
    r = unknown_report(_sessions())
    assert r["registered_domain"].to_list() == ["tiny-shop.example", "other.example"]
    top = r.row(0, named=True)
    assert (top["sessions"], top["bytes"], top["clients"], top["days"]) == (3, 300, 1, 1)
    assert top["example_hostname"] == "img0.tiny-shop.example"
    assert (top["cert_org"], top["remote_org"]) == ("Amazon.com, Inc.", "AMAZON-02")
    # an inbound session's name is the monitored server's own: left out unless asked for
    inbound = _sessions().with_columns(direction=pl.lit("inbound"))
    assert unknown_report(inbound).height == 0
    assert unknown_report(inbound, inbound=True).height == 2


def test_hermit_taxonomy_unknown_reads_the_lake(tmp_path, capsys, monkeypatch):
    from workflows import taxonomy_cli

    monkeypatch.setattr(taxonomy_cli.console, "width", 250)
    lake = Lake(str(tmp_path / "lake"))
    lake.write_partition("categorised", "sessions", DAY, _sessions())
    out_csv = tmp_path / "unknown.csv"
    argv = ["taxonomy", "unknown", "--start", "2017-05-17", "--end", "2017-05-18"]
    assert main([*argv, "--lake", str(tmp_path / "lake"), "--csv", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    assert "tiny-shop.example" in printed and "AMAZON-02" in printed
    assert out_csv.read_text().splitlines()[1].startswith("tiny-shop.example,3,300,")
    empty = ["taxonomy", "unknown", "--start", "2018-01-01", "--end", "2018-01-01"]
    assert main([*empty, "--lake", str(tmp_path / "lake")]) == 2


def test_hermit_taxonomy_check_validates_and_lists_overlaps(tmp_path, capsys):
    good = tmp_path / "taxonomy.yaml"
    good.write_text(
        "version: t\ncategories: [news, cloud, unknown]\nservices:\n"
        "  - {id: a, name: A, category: news, domains: [news.example.com], ports: [tcp/80]}\n"
        "  - {id: b, name: B, category: cloud, domains: [example.com], ports: [tcp/1-1000],"
        " ip_prefixes: [10.0.0.0/8]}\n"
        "  - {id: c, name: C, category: cloud, ip_prefixes: [10.1.0.0/16]}\n"
    )
    report = check_taxonomy(good)
    assert report.overlaps == [
        ("domain", "news.example.com (a)", "example.com (b)"),
        ("ip_prefix", "10.1.0.0/16 (c)", "10.0.0.0/8 (b)"),
        ("port", "tcp/80 (a)", "tcp/1-1000 (b)"),
    ]
    assert main(["taxonomy", "check", str(good)]) == 0
    assert "3 overlaps" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("category: cloud, domains", "category: nope, domains"))
    assert main(["taxonomy", "check", str(bad)]) == 2
    assert "category 'nope'" in capsys.readouterr().out
