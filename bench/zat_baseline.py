"""The common pandas-based Zeek path, for comparison: zat's LogToDataFrame, then Parquet.

zat 0.4.9 cannot read gzip logs: `get_field_info` opens the file in text mode to find the
`#fields` header (UnicodeDecodeError on gzip bytes), although pandas itself could inflate.
So the benchmark inflates the hourly logs first (`inflate_logs`, timed apart and counted for
neither side) and zat reads the plain files, each with its own header, as its users do.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path


def inflate_logs(files: list[Path], out_dir: Path) -> list[Path]:
    """Plain copies of `files` (gzip or not) under `out_dir`, in the same order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plain = []
    for i, f in enumerate(files):
        name = f.name.removesuffix(".gz")
        target = out_dir / f"{i:03d}-{f.parent.parent.name}-{name}"
        opener = gzip.open if f.name.endswith(".gz") else open
        with opener(f, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        plain.append(target)
    return plain


def zat_to_parquet(plain_files: list[Path], out: Path) -> int:
    """Read every plain Zeek log with zat into one pandas frame and write it as Parquet
    (zstd, like hermit's lake); returns the row count."""
    import pandas as pd
    from zat.log_to_dataframe import LogToDataFrame

    reader = LogToDataFrame()
    frames = [reader.create_dataframe(str(p)) for p in plain_files]
    df = pd.concat(frames) if len(frames) > 1 else frames[0]
    df.to_parquet(out, engine="pyarrow", compression="zstd")
    return len(df)
