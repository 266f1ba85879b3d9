"""Load the reference data: monitored networks, service taxonomy, category lists, geo, ASN.

``load_reference()`` builds everything once (rule tables precomputed as polars frames)
so one ``Reference`` can categorise many days. The file formats live in ``networks.py``,
``taxonomy.py`` and ``category_lists.py``; their names are re-exported here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from assets.reference.files import ReferenceDataError, file_sha256, normalise_domain
from assets.reference.networks import NETWORKS_PATH, Network, Networks, load_networks
from assets.reference.taxonomy import (
    TAXONOMY_PATH,
    UNKNOWN_CATEGORY,
    UNKNOWN_SERVICE,
    Service,
    Taxonomy,
    load_taxonomy,
)

if TYPE_CHECKING:
    from assets.reference.asn import AsnSource
    from assets.reference.category_lists import CategoryLists

__all__ = [
    "NETWORKS_PATH",
    "TAXONOMY_PATH",
    "UNKNOWN_CATEGORY",
    "UNKNOWN_SERVICE",
    "Network",
    "Networks",
    "Reference",
    "ReferenceDataError",
    "Service",
    "Taxonomy",
    "file_sha256",
    "load_networks",
    "load_reference",
    "load_taxonomy",
    "normalise_domain",
]

REFERENCE_DIR = Path(__file__).resolve().parent
CATEGORY_MAP_PATH = REFERENCE_DIR / "category_lists.yaml"
GEOIP_ENV = "HERMIT_GEOIP_MMDB"
NETWORKS_ENV = "HERMIT_NETWORKS"
TAXONOMY_ENV = "HERMIT_TAXONOMY"
CATEGORY_LISTS_ENV = "HERMIT_CATEGORY_LISTS"
CATEGORY_MAP_ENV = "HERMIT_CATEGORY_MAP"


@dataclass(frozen=True)
class Reference:
    """Everything categorisation needs; build once with ``load_reference`` and reuse."""

    networks: Networks
    taxonomy: Taxonomy
    geo: pl.DataFrame  # ip_first, ip_last (UInt128), country (ISO alpha-2); disjoint, sorted
    geo_source: str = ""
    category_lists: CategoryLists | None = None
    asn: AsnSource | None = None
    # content hashes of the taxonomy, networks and category lists that named a day
    version: str = ""


def load_reference(
    networks_path: str | Path | None = None,
    taxonomy_path: str | Path | None = None,
    geoip_mmdb: str | None = None,
    category_lists: str | Path | None = None,
    category_map: str | Path | None = None,
    asn_mmdb: str | None = None,
) -> Reference:
    """Networks, taxonomy, optional category lists, IP->country table and ASN source.

    Each argument left empty falls back to its environment variable (``HERMIT_NETWORKS``,
    ``HERMIT_TAXONOMY``, ``HERMIT_CATEGORY_LISTS``, ``HERMIT_CATEGORY_MAP``,
    ``HERMIT_GEOIP_MMDB``, ``HERMIT_ASN_MMDB``), then to the bundled data (no lists).
    """
    from assets.reference import asn, geo
    from assets.reference.category_lists import CategoryLists, load_category_lists

    env = os.environ.get
    networks_path = Path(networks_path or env(NETWORKS_ENV) or NETWORKS_PATH)
    taxonomy_path = Path(taxonomy_path or env(TAXONOMY_ENV) or TAXONOMY_PATH)
    mmdb = geoip_mmdb or env(GEOIP_ENV) or None
    if mmdb:
        table, source = geo.mmdb_table(mmdb), f"mmdb:{mmdb}"
    else:
        table, source = geo.geoip2fast_table(), "geoip2fast"
    taxonomy = load_taxonomy(taxonomy_path)
    lists_root = category_lists or env(CATEGORY_LISTS_ENV) or None
    if lists_root:
        mapping = Path(category_map or env(CATEGORY_MAP_ENV) or CATEGORY_MAP_PATH)
        lists = load_category_lists(lists_root, mapping, taxonomy.categories)
    else:
        lists = CategoryLists.empty()
    networks = load_networks(networks_path)
    version = " ".join(
        [
            f"taxonomy={taxonomy.sha256[:16]}",
            f"networks={file_sha256(networks_path)[:16]}",
            f"category_lists={lists.sha256[:16] or 'none'}",
        ]
    )
    return Reference(
        networks=networks,
        taxonomy=taxonomy,
        geo=table,
        geo_source=source,
        category_lists=lists,
        asn=asn.asn_source(asn_mmdb),
        version=version,
    )
