"""categorise() over the real sensor archive: every day present gets a sessions table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from test_categorise_frames import reference

from assets.categorised.sessions import SESSIONS_SCHEMA, categorise
from assets.categorised.unknown import unknown_domains

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
ARCHIVE = REALDATA / "zeek-sensor-archive"
TABLES = ("conn", "dns", "ssl", "http")

pytestmark = pytest.mark.skipif(not ARCHIVE.is_dir(), reason="realdata not present")


def _validated(day: dt.date) -> dict[str, pl.DataFrame]:
    from assets.validated.transform import RawFile, log_table, validate_partition

    files: dict[str, list] = {t: [] for t in TABLES}
    for folder in sorted(p for p in ARCHIVE.iterdir() if p.is_dir()):
        folder_day = dt.date.fromisoformat(folder.name)
        for f in sorted(folder.iterdir()):
            if (table := log_table(f.name)) in files:
                files[table].append(
                    RawFile(str(f.relative_to(ARCHIVE)), folder_day, "archive", f.read_bytes)
                )
    out = {t: validate_partition(files[t], t, day).valid for t in TABLES}
    # the previous day's DNS answers serve connections just after midnight
    prev = validate_partition(files["dns"], "dns", day - dt.timedelta(days=1)).valid
    out["dns"] = pl.concat([prev, out["dns"]])
    return out


def test_every_archive_day_is_categorised_with_hostnames_from_the_logs():
    days = sorted(dt.date.fromisoformat(p.name) for p in ARCHIVE.iterdir() if p.is_dir())
    assert days
    sources: set[str] = set()
    for day in days:
        v = _validated(day)
        res = categorise(v["conn"], v["dns"], v["ssl"], v["http"], reference=reference())
        s = res.sessions
        assert s.schema == pl.Schema(SESSIONS_SCHEMA)
        assert s.height == v["conn"].height > 0
        assert s["uid"].n_unique() == s.height
        # every TLS connection whose ssl record named a server (not an IP literal, which
        # real clients do send) carries that name
        literal = pl.col("server_name").str.contains(r"^[0-9.]+$|:")
        named = v["ssl"].filter(pl.col("server_name").is_not_null() & ~literal)["uid"]
        got = s.filter(pl.col("uid").is_in(named.implode()))
        assert (got["hostname_source"] == "sni").all()
        with_host = s.filter(pl.col("hostname").is_not_null())
        assert (with_host["hostname"] == with_host["hostname"].str.to_lowercase()).all()
        assert res.stats["sessions"] == s.height
        sources |= set(s["hostname_source"].unique())
        top = unknown_domains(s, top=20)
        assert top.height <= 20 and top["sessions"].is_sorted(descending=True)
    assert {"sni", "http_host"} <= sources
