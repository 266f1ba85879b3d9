"""Simulated services sit in their real owners' address space: the offline ASN data (what
attribution from flows reads) gives every address of a service to its owner's AS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assets.reference.asn import geoip2fast_source
from assets.simulate.population import Prefixes, build_population, ips_to_str
from assets.simulate.scenario import ScenarioError, load_scenario


@pytest.fixture(scope="module")
def world():
    sc = load_scenario()
    return sc, build_population(sc, 2017)


def _service_ips(pop, i):
    named = pop.host_ips[pop.svc_host_off[i] : pop.svc_host_off[i] + pop.svc_host_n[i]].ravel()
    bare = pop.bare_ip[pop.svc_bare_off[i] : pop.svc_bare_off[i] + pop.svc_bare_n[i]]
    return np.unique(named), bare


def test_every_hosted_service_is_at_its_owners_addresses(world):
    sc, pop = world
    source = geoip2fast_source()
    hosted = [s for s in sc.services if s.hosting_owner is not None]
    assert len(hosted) >= 35  # every named service but the invented `_unknown` sites
    for i, plan in enumerate(sc.services):
        if plan.hosting_owner is None:
            continue
        named, bare = _service_ips(pop, i)
        ips = np.concatenate([named, bare])
        assert len(ips), plan.id
        orgs = {org for _, org in source.answers(ips_to_str(ips).to_list())}
        assert orgs <= set(plan.hosting_owner.orgs), (plan.id, orgs)


def test_address_only_sessions_still_match_their_own_prefix_rule(world):
    sc, pop = world
    prefixes = Prefixes.build([(p, i) for i, s in enumerate(sc.services) for p in s.ip_prefixes])
    for i, plan in enumerate(sc.services):
        _, bare = _service_ips(pop, i)
        if len(bare):
            assert (prefixes.owner_of(bare) == i).all(), plan.id


def test_owners_that_share_an_as_and_clouds_stay_so(world):
    sc, _ = world
    owner = {s.id: s.hosting_owner for s in sc.services if s.hosting_owner}
    # Instagram is Facebook's: flows cannot tell the two apart by AS
    assert owner["instagram"].orgs == owner["facebook"].orgs == ("FACEBOOK",)
    # Amazon's retail site is served from AWS, Youku from Alibaba's cloud
    assert owner["amazon"].orgs == ("AMAZON-02",)
    assert owner["youku"].asn == 37963


def test_countries_follow_the_address(world):
    sc, pop = world
    planted = {"iqiyi": "CN", "bbc": "GB", "world_of_tanks": "RU", "netflix": "US"}
    for sid, cc in planted.items():
        i = sc.service_index(sid)
        named, bare = _service_ips(pop, i)
        assert set(pop.country_of(np.concatenate([named, bare]))) == {cc}, sid


def test_hosting_file_must_cover_the_named_services(tmp_path):
    src = load_scenario().source
    text = Path(src).read_text()
    (tmp_path / "hosting.yaml").write_text(
        "services:\n  youku: {owner: x, asn: null, org: X, prefixes: [47.96.0.0/11]}\n"
    )
    (tmp_path / "s.yaml").write_text(
        text.replace("service_hosting: nk2017_hosting.yaml", "service_hosting: hosting.yaml")
    )
    with pytest.raises(ScenarioError, match="no owner address space"):
        load_scenario(tmp_path / "s.yaml")
