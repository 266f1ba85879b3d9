"""The Dagster resource every layer shares: the lake (storage). The reference data's resource
lives with its loaders (assets/reference/resource.py)."""

from __future__ import annotations

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
