"""Dagster resources: the lake (storage) and the reference data (networks, taxonomy, geo)."""

from __future__ import annotations

from functools import cache

import dagster as dg
from pydantic import PrivateAttr

from assets.config import Settings
from assets.lake import Lake


class LakeResource(dg.ConfigurableResource):
    """Where hermit reads raw logs and writes every layer (local path or s3:// URL)."""

    root: str = ""
    raw_root: str = ""
    lateness_days: int = -1

    _lake: Lake | None = PrivateAttr(default=None)

    def settings(self) -> Settings:
        env = Settings.from_env()
        root = self.root or env.lake
        raw = self.raw_root or (env.raw if not self.root else f"{root.rstrip('/')}/raw")
        lateness = self.lateness_days if self.lateness_days >= 0 else env.lateness_days
        return Settings(lake=root, raw=raw, lateness_days=lateness)

    def get(self) -> Lake:
        if self._lake is None:
            s = self.settings()
            self._lake = Lake(s.lake, s.raw)
        return self._lake


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
