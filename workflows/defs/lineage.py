"""Inputs: the raw Zeek zone and the reference files, as observable source assets."""

from assets.lineage.assets import raw_zeek, reference_networks, reference_taxonomy

__all__ = ["raw_zeek", "reference_networks", "reference_taxonomy"]
