"""Coverage on real traffic no one here has seen (../shared/realdata; skipped when absent).

On every real Zeek source with TLS or HTTP names, at least 95% of the monitored side's
sessions to public registered domains get a named service or a category other than
unknown; at least 90% of zat's top 1,000 domains resolve to a named service.

Each source is read with the networks file its owner would write: the sensor archive
watches one internet-facing host (the rest of its traffic is inbound scanning, whose Host
headers name the *local* server), zat's captures watch private LANs.
"""

from __future__ import annotations

import polars as pl
import pytest
from realdata_sources import ARCHIVE, REALDATA, ZAT, sources

from assets.categorised.classify import match_domains
from assets.categorised.sessions import categorise
from assets.reference.loaders import load_reference, load_taxonomy

pytestmark = pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata is absent")

NETWORKS = {
    "zeek-sensor-archive": "  - {cidr: 64.225.56.201/32, label: sensor, timezone: UTC}\n",
    "zeek-zat": "".join(
        f"  - {{cidr: {c}, label: lan{i}, timezone: UTC}}\n"
        for i, c in enumerate(("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
    ),
}


def _coverage(s: pl.DataFrame) -> pl.DataFrame:
    public = s.filter(
        (pl.col("direction") == "outbound") & pl.col("registered_domain").is_not_null()
    )
    named = (pl.col("service") != "Unknown") | (pl.col("category") != "unknown")
    return public.group_by("hostname_source").agg(sessions=pl.len(), named=named.sum())


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict[str, pl.DataFrame]:
    refs = {}
    for key, text in NETWORKS.items():
        p = tmp_path_factory.mktemp("nets") / f"{key}.yaml"
        p.write_text("networks:\n" + text)
        refs[key] = load_reference(networks_path=p)
    out: dict[str, list[pl.DataFrame]] = {}
    for source, _label, v in sources():
        ref = refs["zeek-sensor-archive" if source == "zeek-sensor-archive" else "zeek-zat"]
        s = categorise(v["conn"], v["dns"], v["ssl"], v["http"], reference=ref).sessions
        out.setdefault(source, []).append(_coverage(s))
    return {
        k: pl.concat(f).group_by("hostname_source").agg(pl.col("sessions", "named").sum())
        for k, f in out.items()
    }


def test_every_real_source_names_95_percent_of_sessions_to_public_domains(measured):
    expected = {"zeek-zat", "zeek-zat/json"} if ZAT.is_dir() else set()
    expected |= {"zeek-sensor-archive"} if ARCHIVE.is_dir() else set()
    assert set(measured) == expected
    for source, by_kind in sorted(measured.items()):
        total = by_kind.select(pl.col("sessions", "named").sum()).row(0)
        print(
            source,
            dict(
                zip(
                    by_kind["hostname_source"],
                    zip(by_kind["sessions"], by_kind["named"], strict=True),
                    strict=True,
                )
            ),
        )
        assert total[0] > 0, source
        assert total[1] / total[0] >= 0.95, (source, by_kind.to_dicts())


@pytest.mark.skipif(not (ZAT / "top_domains_1k.csv").exists(), reason="no top_domains_1k.csv")
def test_nine_in_ten_of_the_most_visited_domains_resolve_to_a_named_service():
    top = pl.read_csv(ZAT / "top_domains_1k.csv", has_header=False, new_columns=["rank", "name"])
    assert top.height == 1000
    got = match_domains(top["name"].str.to_lowercase(), load_taxonomy().domain_rules)
    assert got["service_id"].is_not_null().sum() / got.height >= 0.90
