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
def _load_reference(networks_path: str, taxonomy_path: str, geoip_mmdb: str):
    from assets.reference.loaders import load_reference

    return load_reference(
        networks_path=networks_path or None,
        taxonomy_path=taxonomy_path or None,
        geoip_mmdb=geoip_mmdb or None,
    )


class ReferenceResource(dg.ConfigurableResource):
    """Versioned reference data: monitored networks, service taxonomy, IP-to-country source."""

    networks_path: str = ""
    taxonomy_path: str = ""
    geoip_mmdb: str = ""

    def file_path(self, which: str) -> str:
        """The file in use for `which` ("networks" or "taxonomy"): configured, else bundled."""
        from assets.reference.loaders import NETWORKS_PATH, TAXONOMY_PATH

        configured = {"networks": self.networks_path, "taxonomy": self.taxonomy_path}[which]
        bundled = {"networks": NETWORKS_PATH, "taxonomy": TAXONOMY_PATH}[which]
        return configured or str(bundled)

    def get(self):
        import os

        mmdb = self.geoip_mmdb or os.environ.get("HERMIT_GEOIP_MMDB", "")
        return _load_reference(self.networks_path, self.taxonomy_path, mmdb)
