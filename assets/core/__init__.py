"""What every layer shares: the daily partitions, resources, asset keys, address ranges."""
