"""Asset keys and names that more than one package refers to, defined once."""

import dagster as dg

RAW_ZEEK = dg.AssetKey(["raw", "zeek"])
RAW_FLOWS = dg.AssetKey(["raw", "flows"])
REFERENCE_NETWORKS = dg.AssetKey(["reference", "networks"])
REFERENCE_TAXONOMY = dg.AssetKey(["reference", "taxonomy"])
REFERENCE_KEYS = (REFERENCE_NETWORKS, REFERENCE_TAXONOMY)

JOB_NAME = "daily_pipeline"

# Bumped when a layer's code changes what it writes, so Dagster shows its partitions stale.
CODE_VERSIONS = {"validated": "2", "flows": "1", "categorised": "4", "reporting": "3"}
