"""The whole chain against a real S3 protocol server on loopback (moto), configured only through
the standard AWS variables, producing the same tables as a local lake."""

import datetime as dt

import polars as pl
from pipeline_run import run_days

from assets.lake import Lake
from assets.simulate.run import simulate

DAY = dt.date(2017, 5, 20)
COMPARED = [
    ("validated", "conn"),
    ("validated", "dns"),
    ("validated", "ssl"),
    ("validated", "http"),
    ("categorised", "sessions"),
    ("reporting", "top_services"),
    ("reporting", "daily_summary"),
]


def test_pipeline_on_s3_matches_the_local_lake(s3_bucket, tmp_path):
    s3_root = f"{s3_bucket.url}/lake"
    local_root = str(tmp_path / "lake")
    for root in (s3_root, local_root):
        simulate(Lake(root), start=DAY, end=DAY, sessions_per_day=300, seed=11)
        assert run_days(root, DAY).success, root

    s3, local = Lake(s3_root), Lake(local_root)
    assert s3.url().startswith("s3://") and not s3.is_local
    for zone, table in COMPARED:
        remote = s3.read_partition(zone, table, DAY)
        here = local.read_partition(zone, table, DAY)
        assert remote is not None and remote.height > 0, (zone, table)
        assert remote.equals(here), (zone, table)
    # a BI-style reader (polars' own object-store client, not fsspec) sees the Hive partitions
    by_polars = pl.scan_parquet(
        f"{s3_root}/validated/conn/*/*.parquet",
        hive_partitioning=True,
        storage_options={
            "aws_endpoint_url": s3_bucket.endpoint,
            "aws_allow_http": "true",
            "aws_region": "us-east-1",
        },
    ).collect()
    assert by_polars.height == local.read_partition("validated", "conn", DAY).height
    assert by_polars["date"].unique().to_list() == [DAY]
