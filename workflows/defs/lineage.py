"""Inputs: the raw Zeek and flow zones and the reference files, as observable source assets."""

from assets.lineage.assets import raw_flows, raw_zeek, reference_networks, reference_taxonomy

__all__ = ["raw_flows", "raw_zeek", "reference_networks", "reference_taxonomy"]
