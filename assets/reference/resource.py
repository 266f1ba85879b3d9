"""The Dagster resource for the reference data: monitored networks, taxonomy, category lists,
IP-to-country and ASN sources, loaded once per process and shared by every step."""

from __future__ import annotations

from functools import cache

import dagster as dg


@cache
def _load_reference(*paths: str):
    from assets.reference.loaders import load_reference

    return load_reference(*(p or None for p in paths))


class ReferenceResource(dg.ConfigurableResource):
    """Versioned reference data: monitored networks, service taxonomy, category lists,
    IP-to-country and ASN sources. Empty fields fall back to the HERMIT_* variables, then to
    the bundled files (README, Configuration)."""

    networks_path: str = ""
    taxonomy_path: str = ""
    geoip_mmdb: str = ""
    category_lists: str = ""
    category_map: str = ""
    asn_mmdb: str = ""

    def file_path(self, which: str) -> str:
        """The file in use for `which` ("networks" or "taxonomy"): the field, else its HERMIT_*
        variable, else the bundled file."""
        import os

        from assets.reference.loaders import NETWORKS_PATH, TAXONOMY_PATH

        configured = {"networks": self.networks_path, "taxonomy": self.taxonomy_path}[which]
        env = os.environ.get({"networks": "HERMIT_NETWORKS", "taxonomy": "HERMIT_TAXONOMY"}[which])
        bundled = {"networks": NETWORKS_PATH, "taxonomy": TAXONOMY_PATH}[which]
        return configured or env or str(bundled)

    def get(self):
        import os

        env = os.environ.get
        return _load_reference(
            self.networks_path or env("HERMIT_NETWORKS", ""),
            self.taxonomy_path or env("HERMIT_TAXONOMY", ""),
            self.geoip_mmdb or env("HERMIT_GEOIP_MMDB", ""),
            self.category_lists or env("HERMIT_CATEGORY_LISTS", ""),
            self.category_map or env("HERMIT_CATEGORY_MAP", ""),
            self.asn_mmdb or env("HERMIT_ASN_MMDB", ""),
        )
