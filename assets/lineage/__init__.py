"""Where the pipeline's inputs come from: the raw zone and the reference data, as observable
source assets, so lineage starts at the sensors and a vocabulary change shows as stale data."""
