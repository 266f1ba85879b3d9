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
        return Settings(
            lake=root, raw=raw, lateness_days=lateness, unrotated_days=env.unrotated_days
        )

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

    def get(self):
        import os

        mmdb = self.geoip_mmdb or os.environ.get("HERMIT_GEOIP_MMDB", "")
        return _load_reference(self.networks_path, self.taxonomy_path, mmdb)
