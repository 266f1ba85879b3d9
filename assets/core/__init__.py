"""What every layer shares: the daily partition set and the Dagster resources."""
