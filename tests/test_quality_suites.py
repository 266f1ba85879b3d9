"""Great Expectations suites (expectations/*.json) and the runner that applies them."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assets.config import PROJECT_ROOT
from assets.quality import frames, ge_runner, gx_engine, suites
from assets.quality.ge_runner import (
    SuiteOutcome,
    batch_plan,
    list_suites,
    load_suite_json,
    referenced_columns,
    severity_of,
    validate_days,
    validate_frame,
)

DAY = "2017-04-01"
UTC = pl.Datetime("us", "UTC")
EXPECTED_SUITES = {
    "validated.conn",
    "validated.dns",
    "validated.ssl",
    "validated.http",
    "quarantine.records",
    "categorised.sessions",
    "categorised.unknown_domains",
    *(
        f"reporting.{t}"
        for t in (
            "activity_by_category",
            "top_services",
            "hourly_activity",
            "weekday_activity",
            "country_activity",
            "suspect_activity",
            "daily_summary",
        )
    ),
}


# ---- schemas the suites must agree with -----------------------------------------------------
def _docs_sessions_columns() -> list[str]:
    """Column names of the categorised sessions table in docs/architecture.md (the contract)."""
    text = (PROJECT_ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Categorised sessions", 1)[1].split("\n## ", 1)[0]
    cols = []
    for line in section.splitlines():
        m = re.match(r"^\|\s*([a-z_, ]+?)\s*\|", line)
        if m and m.group(1) != "column":
            cols += [c.strip() for c in m.group(1).split(",")]
    return cols


def _schema(suite: str) -> list[str]:
    """The table's columns per its owner module; skips when that module is not importable."""
    zone, table = suite.split(".", 1)
    try:
        if zone == "validated":
            schemas = importlib.import_module("assets.validated.schemas")
            return list(schemas.VALIDATED_SCHEMAS[table])
        if zone == "quarantine":
            return list(importlib.import_module("assets.validated.schemas").QUARANTINE_SCHEMA)
        if zone == "reporting":
            return list(importlib.import_module("assets.reporting.tables").REPORTING_SCHEMAS[table])
        if suite == "categorised.unknown_domains":
            unknown = importlib.import_module("assets.categorised.unknown")
            return list(unknown.UNKNOWN_DOMAINS_SCHEMA)
    except ImportError as e:
        pytest.skip(f"schema module for {suite} not importable yet: {e}")
    if suite == "categorised.sessions":
        return _docs_sessions_columns()
    pytest.skip(f"no known schema for {suite}")


# ---- frames -------------------------------------------------------------------------------
def conn_frame(n: int = 300, seed: int = 0) -> pl.DataFrame:
    """A clean validated conn frame (docs/architecture.md column conventions)."""
    from assets.validated.schemas import VALIDATED_SCHEMAS

    rng = np.random.default_rng(seed)
    start = dt.datetime(2017, 4, 1, tzinfo=dt.UTC)
    values = {
        "ts": [start + dt.timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 86_399, n))],
        "uid": [f"C{i:017d}" for i in range(n)],
        "id_orig_h": [f"175.45.176.{i % 250 + 1}" for i in range(n)],
        "id_orig_p": rng.integers(1024, 65536, n).tolist(),
        "id_resp_h": [f"93.184.{i % 200}.{i % 100 + 1}" for i in range(n)],
        "id_resp_p": rng.choice([443, 80, 53, 8333], n).tolist(),
        "proto": rng.choice(["tcp", "udp", "icmp"], n).tolist(),
        "service": rng.choice(["ssl", "http", "dns"], n).tolist(),
        "duration": rng.exponential(5.0, n).tolist(),
        "orig_bytes": rng.integers(0, 10**6, n).tolist(),
        "resp_bytes": rng.integers(0, 10**7, n).tolist(),
        "conn_state": ["SF"] * n,
        "missed_bytes": [0] * n,
        "orig_pkts": rng.integers(1, 100, n).tolist(),
        "resp_pkts": rng.integers(0, 100, n).tolist(),
        "sensor": ["sensor-1"] * n,
    }
    schema = VALIDATED_SCHEMAS["conn"]
    return pl.DataFrame({c: values.get(c, [None] * n) for c in schema}, schema=schema, strict=False)


def sessions_frame(n: int = 200, *, unknown_share: float = 0.1) -> pl.DataFrame:
    """Clean categorised sessions following the docs' sessions table."""
    rng = np.random.default_rng(1)
    start = dt.datetime(2017, 4, 1, tzinfo=dt.UTC)
    ts = [start + dt.timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 86_399, n))]
    unknown = np.arange(n) < int(n * unknown_share)
    local = [f"175.45.176.{i % 40 + 1}" for i in range(n)]
    remote = [f"31.13.{i % 50}.{i % 90 + 1}" for i in range(n)]
    orig_b = rng.integers(0, 10**5, n)
    resp_b = rng.integers(0, 10**6, n)
    local_ts = [t + dt.timedelta(hours=8, minutes=30) for t in ts]
    values = {
        "ts": ts,
        "uid": [f"C{i:017d}" for i in range(n)],
        "sensor": ["sensor-1"] * n,
        "orig_h": local,
        "resp_h": remote,
        "orig_p": rng.integers(1024, 65536, n).tolist(),
        "resp_p": [443] * n,
        "proto": ["tcp"] * n,
        "app_protocol": ["ssl"] * n,
        "duration": rng.exponential(5.0, n).tolist(),
        "orig_bytes": orig_b.tolist(),
        "resp_bytes": resp_b.tolist(),
        "bytes_total": (orig_b + resp_b).tolist(),
        "conn_state": ["SF"] * n,
        "direction": ["outbound"] * n,
        "network": ["Star JV"] * n,
        "local_ip": local,
        "remote_ip": remote,
        "remote_country": [None if u else "US" for u in unknown],
        "remote_asn": [None if u else 32934 for u in unknown],
        "remote_org": [None if u else "FACEBOOK" for u in unknown],
        "hostname": [None if u else "www.facebook.com" for u in unknown],
        "hostname_source": ["none" if u else "sni" for u in unknown],
        "registered_domain": [None if u else "facebook.com" for u in unknown],
        "cert_org": [None if u else "Meta Platforms, Inc." for u in unknown],
        "cert_name": [None if u else "facebook.com" for u in unknown],
        "service": ["Unknown" if u else "Facebook" for u in unknown],
        "category": ["unknown" if u else "social" for u in unknown],
        "match_source": ["none" if u else "domain" for u in unknown],
        "local_date": [t.date() for t in local_ts],
        "local_hour": [t.hour for t in local_ts],
        "local_weekday": [t.isoweekday() for t in local_ts],
        "reference_version": ["taxonomy=0 networks=0 category_lists=none"] * n,
        "source": ["zeek"] * n,
        "flows": [None] * n,
        "sampling_rate": [1] * n,
        "estimated": [False] * n,
    }
    schema = {
        "flows": pl.Int64,
        "remote_asn": pl.UInt32,
        "orig_p": pl.Int32,
        "resp_p": pl.Int32,
        "local_hour": pl.Int8,
        "local_weekday": pl.Int8,
        "ts": UTC,
    }
    return pl.DataFrame(values, schema_overrides=schema)


def quarantine_frame(n: int = 20) -> pl.DataFrame:
    from assets.validated.schemas import QUARANTINE_SCHEMA

    return pl.DataFrame(
        {
            "reason": ["parse_error", "late", "bad_ip", "duplicate"] * (n // 4),
            "detail": ["x"] * n,
            "source_file": ["zeek/sensor-1/2017-04-01/conn.00:00:00-01:00:00.log.gz"] * n,
            "line_number": list(range(1, n + 1)),
            "raw": ["raw line"] * n,
            "sensor": ["sensor-1"] * n,
        },
        schema=QUARANTINE_SCHEMA,
    )


# ---- import cost -----------------------------------------------------------------------------
def test_importing_the_runner_does_not_import_great_expectations():
    code = (
        "import sys, assets.quality.ge_runner as r; r.list_suites();"
        "assert 'great_expectations' not in sys.modules, 'GE imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True)


# ---- the suites themselves -----------------------------------------------------------------
def test_every_table_has_a_suite():
    assert set(list_suites()) >= EXPECTED_SUITES


@pytest.mark.parametrize("suite", sorted(EXPECTED_SUITES))
def test_suite_is_ge_suite_json_and_loads_in_ge(suite):
    spec = json.loads((PROJECT_ROOT / "expectations" / f"{suite}.json").read_text())
    assert spec["name"] == suite
    assert set(spec) <= {"name", "expectations", "meta", "id", "notes", "suite_parameters"}
    for exp in spec["expectations"]:
        assert set(exp) >= {"type", "kwargs", "meta"}
        assert severity_of(exp) in ("error", "warning")
    gx_suite = ge_runner._ge_suite(suite)  # GE's own classes parse it
    assert [e.type for e in gx_suite.expectation_configurations] == [
        e["type"] for e in spec["expectations"]
    ]


@pytest.mark.parametrize("suite", sorted(EXPECTED_SUITES))
def test_suite_columns_exist_in_the_table_schema(suite):
    schema = _schema(suite)
    spec = load_suite_json(suite)
    assert referenced_columns(spec) <= set(schema)
    for exp in spec["expectations"]:
        if exp["type"] == "expect_table_columns_to_match_set":
            assert sorted(exp["kwargs"]["column_set"]) == sorted(schema)


def test_sessions_contract_matches_the_categorised_code():
    sessions = pytest.importorskip("assets.categorised.sessions")
    assert list(sessions.SESSIONS_SCHEMA) == _docs_sessions_columns()


def test_category_sets_are_the_taxonomy_categories():
    import yaml

    path = PROJECT_ROOT / "assets" / "reference" / "taxonomy.yaml"
    if not path.is_file():
        pytest.skip("taxonomy.yaml not written yet")
    categories = set(yaml.safe_load(path.read_text())["categories"])
    for suite in list_suites():
        for exp in load_suite_json(suite)["expectations"]:
            kw = exp["kwargs"]
            if exp["type"] == "expect_column_values_to_be_in_set" and kw["column"] == "category":
                assert set(kw["value_set"]) == categories, suite


def test_quarantine_reasons_are_the_contract_codes():
    from assets.validated.schemas import REASONS

    (exp,) = [
        e
        for e in load_suite_json("quarantine.records")["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set"
    ]
    assert set(exp["kwargs"]["value_set"]) == set(REASONS)


# ---- good frames pass ----------------------------------------------------------------------
def test_clean_conn_frame_passes():
    out = validate_frame(conn_frame(), "validated.conn", partition=DAY)
    assert isinstance(out, SuiteOutcome)
    assert out.success, out.summary()
    assert out.failed == []
    assert out.evaluated == len(load_suite_json("validated.conn")["expectations"])
    assert "passed" in out.summary() and DAY in out.summary()


def test_clean_sessions_and_quarantine_pass():
    sessions = validate_frame(sessions_frame(), "categorised.sessions", partition=DAY)
    assert sessions.success and not sessions.failed, sessions.summary()
    quarantine = validate_frame(quarantine_frame(), "quarantine.records", partition=DAY)
    assert quarantine.success and not quarantine.failed, quarantine.summary()


@pytest.mark.parametrize("suite", sorted(EXPECTED_SUITES))
def test_empty_table_with_its_schema_passes(suite):
    if suite == "reporting.daily_summary":
        pytest.skip("daily_summary always has exactly one row")
    frame = _empty(suite, _schema(suite))
    out = validate_frame(frame, suite, partition=DAY)
    assert out.success, out.summary()


def _empty(suite: str, columns: list[str]) -> pl.DataFrame:
    zone, table = suite.split(".", 1)
    if zone == "validated":
        from assets.validated.schemas import VALIDATED_SCHEMAS

        return pl.DataFrame(schema=VALIDATED_SCHEMAS[table])
    if zone == "quarantine":
        from assets.validated.schemas import QUARANTINE_SCHEMA

        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    if zone == "reporting":
        from assets.reporting.tables import REPORTING_SCHEMAS

        return pl.DataFrame(schema=REPORTING_SCHEMAS[table])
    if suite == "categorised.unknown_domains":
        from assets.categorised.unknown import UNKNOWN_DOMAINS_SCHEMA

        return pl.DataFrame(schema=UNKNOWN_DOMAINS_SCHEMA)
    return sessions_frame().head(0).select(columns)


def test_reporting_tables_built_by_the_reporting_layer_pass():
    tables = pytest.importorskip("assets.reporting.tables")
    built = tables.build_reporting_tables(sessions_frame(400), day=dt.date(2017, 4, 1))
    for name, frame in built.items():
        out = validate_frame(frame, f"reporting.{name}", partition=DAY)
        assert out.success, out.summary()


# ---- defects fail, and the summary says where ------------------------------------------------
CONN_DEFECTS = {
    "null uid": (
        lambda df: df.with_columns(
            pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("uid")).alias("uid")
        ),
        "expect_column_values_to_not_be_null",
        "uid",
    ),
    "duplicate uid": (
        lambda df: df.with_columns(pl.lit("Cdup").alias("uid")),
        "expect_compound_columns_to_be_unique",  # uids are unique per sensor
        "sensor,uid",
    ),
    "port out of range": (
        lambda df: df.with_columns(pl.lit(70000, dtype=pl.Int32).alias("id_resp_p")),
        "expect_column_values_to_be_between",
        "id_resp_p",
    ),
    "negative bytes": (
        lambda df: df.with_columns((pl.col("orig_bytes") - 10**7).alias("orig_bytes")),
        "expect_column_values_to_be_between",
        "orig_bytes",
    ),
    "negative duration": (
        lambda df: df.with_columns(pl.lit(-1.0).alias("duration")),
        "expect_column_values_to_be_between",
        "duration",
    ),
    "unknown proto": (
        lambda df: df.with_columns(pl.lit("sctp").alias("proto")),
        "expect_column_values_to_be_in_set",
        "proto",
    ),
    "extra column": (
        lambda df: df.with_columns(pl.lit(1).alias("surprise")),
        "expect_table_columns_to_match_set",
        None,
    ),
    "missing column": (
        lambda df: df.drop("history"),
        "expect_table_columns_to_match_set",
        None,
    ),
}


@pytest.mark.parametrize("defect", sorted(CONN_DEFECTS))
def test_conn_defect_fails_and_is_named(defect):
    corrupt, expectation, column = CONN_DEFECTS[defect]
    out = validate_frame(corrupt(conn_frame()), "validated.conn", partition=DAY)
    assert not out.success
    hits = [f for f in out.errors if f["expectation"] == expectation and f["column"] == column]
    assert hits, out.summary()
    line = next(ln for ln in out.summary().splitlines() if expectation in ln)
    assert DAY in line and "ERROR" in line
    if column:
        assert column in line
    assert isinstance(hits[0]["kwargs"], dict) and hits[0]["observed"]


def test_missing_referenced_column_fails_rather_than_crashing():
    out = validate_frame(conn_frame().drop("uid"), "validated.conn", partition=DAY)
    assert not out.success
    assert any(f["column"] == "uid" for f in out.errors), out.summary()


@pytest.mark.parametrize(
    ("column", "value", "expectation"),
    [
        ("direction", "sideways", "expect_column_values_to_be_in_set"),
        ("category", "sports", "expect_column_values_to_be_in_set"),
        ("hostname_source", "guess", "expect_column_values_to_be_in_set"),
        ("match_source", "magic", "expect_column_values_to_be_in_set"),
        ("local_hour", 24, "expect_column_values_to_be_between"),
        ("local_weekday", 0, "expect_column_values_to_be_between"),
        ("bytes_total", -5, "expect_column_values_to_be_between"),
    ],
)
def test_sessions_defect_fails_and_is_named(column, value, expectation):
    df = sessions_frame()
    df = df.with_columns(pl.lit(value, dtype=df.schema[column]).alias(column))
    out = validate_frame(df, "categorised.sessions", partition=DAY)
    assert not out.success
    assert any(f["expectation"] == expectation and f["column"] == column for f in out.errors)
    assert f"partition {DAY}" in out.summary() and column in out.summary()


def test_unknown_domains_built_by_the_categorised_layer_pass_and_defects_fail():
    unknown = pytest.importorskip("assets.categorised.unknown")
    frame = unknown.unknown_domains(
        sessions_frame(300, unknown_share=0.0).with_columns(
            pl.lit("Unknown").alias("service"), pl.lit("unknown").alias("category")
        )
    )
    assert frame.height > 0
    assert validate_frame(frame, "categorised.unknown_domains", partition=DAY).success
    doubled = pl.concat([frame, frame])
    out = validate_frame(doubled, "categorised.unknown_domains", partition=DAY)
    assert not out.success
    assert any(f["column"] == "registered_domain" for f in out.errors), out.summary()


def test_quarantine_bad_reason_and_missing_source_fail():
    df = quarantine_frame().with_columns(
        pl.lit("cosmic_ray").alias("reason"), pl.lit(None, dtype=pl.String).alias("source_file")
    )
    out = validate_frame(df, "quarantine.records", partition=DAY)
    assert not out.success
    assert {f["column"] for f in out.errors} >= {"reason", "source_file"}


def test_reporting_defects_fail():
    tables = pytest.importorskip("assets.reporting.tables")
    built = tables.build_reporting_tables(sessions_frame(400), day=dt.date(2017, 4, 1))
    hourly = built["hourly_activity"].with_columns(pl.lit(24, dtype=pl.Int8).alias("local_hour"))
    out = validate_frame(hourly, "reporting.hourly_activity", partition=DAY)
    assert not out.success and any(f["column"] == "local_hour" for f in out.errors)
    share = built["activity_by_category"].with_columns(pl.lit(1.5).alias("session_share"))
    out = validate_frame(share, "reporting.activity_by_category", partition=DAY)
    assert not out.success and any(f["column"] == "session_share" for f in out.errors)
    two_days = pl.concat([built["daily_summary"], built["daily_summary"]])
    out = validate_frame(two_days, "reporting.daily_summary", partition=DAY)
    assert not out.success
    assert any(f["expectation"] == "expect_table_row_count_to_equal" for f in out.errors)


# ---- severities ----------------------------------------------------------------------------
def test_unknown_share_is_a_warning_that_never_fails():
    out = validate_frame(sessions_frame(unknown_share=0.5), "categorised.sessions", partition=DAY)
    assert out.success, out.summary()
    assert out.errors == []
    (warning,) = out.warnings
    assert warning["expectation"] == "expect_column_values_to_not_be_in_set"
    assert warning["column"] == "category"
    assert warning["severity"] == "warning"
    assert "WARNING" in out.summary() and DAY in out.summary()


def test_warning_is_reported_alongside_errors():
    df = sessions_frame(unknown_share=0.5).with_columns(pl.lit(-1, pl.Int64).alias("bytes_total"))
    out = validate_frame(df, "categorised.sessions", partition=DAY)
    assert not out.success
    assert {f["severity"] for f in out.failed} == {"error", "warning"}


def test_severity_parsing():
    assert severity_of({"type": "x", "meta": {}}) == "error"
    assert severity_of({"type": "x", "meta": {"severity": "warning"}}) == "warning"
    assert severity_of({"type": "x", "severity": "critical"}) == "error"
    with pytest.raises(ValueError):
        severity_of({"type": "x", "meta": {"severity": "panic"}})


# ---- runner behaviour ------------------------------------------------------------------------
def test_repeated_calls_judge_each_frame_on_its_own():
    good, bad = conn_frame(), conn_frame().with_columns(pl.lit(-1.0).alias("duration"))
    assert validate_frame(good, "validated.conn", partition="2017-04-01").success
    assert not validate_frame(bad, "validated.conn", partition="2017-04-02").success
    assert validate_frame(good, "validated.conn", partition="2017-04-03").success


def test_unknown_suite_is_an_error():
    with pytest.raises(FileNotFoundError):
        validate_frame(conn_frame(5), "validated.nope")


def test_suites_dir_is_beside_pyproject():
    assert (ge_runner.SUITES_DIR.parent / "pyproject.toml").is_file()
    assert Path(PROJECT_ROOT) / "expectations" == ge_runner.SUITES_DIR


def test_public_ge_path_gives_the_same_outcome(monkeypatch):
    """If GE internals move, the runner falls back to Batch-definition validation."""
    bad = conn_frame().with_columns(pl.lit("sctp").alias("proto"))
    fast = validate_frame(bad, "validated.conn", partition=DAY)

    def moved(_pdf):
        raise AttributeError("GE internals moved")

    monkeypatch.setattr(gx_engine, "_unfingerprinted_validator", moved)
    slow = validate_frame(bad, "validated.conn", partition=DAY)
    assert not slow.success
    assert (slow.evaluated, slow.failed) == (fast.evaluated, fast.failed)


# ---- many days in one validation (validate_days) ---------------------------------------------
DAYS = [f"2017-04-{d:02d}" for d in range(1, 4)]
BAD = 1  # the defective day's index in DAYS


def http_frame(n: int = 40, *, key_nulls: int = 0) -> pl.DataFrame:
    """A clean validated http frame; the first `key_nulls` rows have neither uid nor depth."""
    from assets.validated.schemas import VALIDATED_SCHEMAS

    start = dt.datetime(2017, 4, 1, tzinfo=dt.UTC)
    values = {
        "ts": [start + dt.timedelta(seconds=i) for i in range(n)],
        "uid": [None if i < key_nulls else f"C{i // 2:017d}" for i in range(n)],
        "trans_depth": [None if i < key_nulls else i % 2 + 1 for i in range(n)],
        "id_orig_h": ["175.45.176.1"] * n,
        "id_orig_p": [50000 + i for i in range(n)],
        "id_resp_h": ["93.184.216.34"] * n,
        "id_resp_p": [80] * n,
        "status_code": [200] * n,
        "sensor": ["sensor-1"] * n,
    }
    schema = VALIDATED_SCHEMAS["http"]
    return pl.DataFrame({c: values.get(c, [None] * n) for c in schema}, schema=schema, strict=False)


def _reporting(table: str) -> pl.DataFrame:
    tables = pytest.importorskip("assets.reporting.tables")
    return tables.build_reporting_tables(sessions_frame(400), day=dt.date(2017, 4, 1))[table]


def _with_value(column, value, row: int | None = None):
    """A defect: `column` set to `value` (in one row, or every row)."""

    def corrupt(df: pl.DataFrame) -> pl.DataFrame:
        new = pl.lit(value, dtype=df.schema[column])
        if row is not None:
            new = pl.when(pl.int_range(pl.len()) == row).then(new).otherwise(pl.col(column))
        return df.with_columns(new.alias(column))

    return corrupt


# defect name -> (suite, clean frame of one day, defect applied to day BAD)
BATCH_DEFECTS = {
    **{
        f"conn {name}": ("validated.conn", conn_frame, corrupt)
        for name, (corrupt, _, _) in CONN_DEFECTS.items()
    },
    "conn uid repeated in another row": (
        "validated.conn",
        conn_frame,
        lambda df: df.with_columns(
            pl.when(pl.int_range(pl.len()) == 7).then(pl.lit(df["uid"][3])).otherwise("uid")
        ),
    ),
    "sessions direction": ("categorised.sessions", sessions_frame, _with_value("direction", "up")),
    "sessions null ts": ("categorised.sessions", sessions_frame, _with_value("ts", None, row=5)),
    "sessions country length": (
        "categorised.sessions",
        sessions_frame,
        _with_value("remote_country", "USA", row=50),
    ),
    "sessions unknown share (warning)": (
        "categorised.sessions",
        lambda: sessions_frame(unknown_share=0.0),
        lambda _: sessions_frame(unknown_share=0.3),
    ),
    "quarantine reason": ("quarantine.records", quarantine_frame, _with_value("reason", "x")),
    "quarantine line 0": ("quarantine.records", quarantine_frame, _with_value("line_number", 0)),
    "http depth repeated": (
        "validated.http",
        http_frame,
        lambda df: df.with_columns(pl.lit(1, dtype=pl.Int64).alias("trans_depth")),
    ),
    "http key half missing, repeated": (
        "validated.http",
        http_frame,
        lambda df: df.with_columns(pl.lit(None, dtype=pl.String).alias("uid")),
    ),
    "summary two rows": (
        "reporting.daily_summary",
        lambda: _reporting("daily_summary"),
        lambda df: pl.concat([df, df]),
    ),
    "summary no row": (
        "reporting.daily_summary",
        lambda: _reporting("daily_summary"),
        lambda df: df.head(0),
    ),
    "summary last before first": (
        "reporting.daily_summary",
        lambda: _reporting("daily_summary"),
        lambda df: df.with_columns(
            pl.col("first_ts").alias("last_ts"), pl.col("last_ts").alias("first_ts")
        ),
    ),
    "hourly key repeated": (
        "reporting.hourly_activity",
        lambda: _reporting("hourly_activity"),
        lambda df: pl.concat([df, df.head(1)]),
    ),
    "top services clients above sessions": (
        "reporting.top_services",
        lambda: _reporting("top_services"),
        lambda df: df.with_columns((pl.col("sessions") + 1).alias("clients")),
    ),
    "country code length": (
        "reporting.country_activity",
        lambda: _reporting("country_activity"),
        _with_value("remote_country", "XYZ", row=0),
    ),
}


def _essence(out: SuiteOutcome) -> tuple:
    keys = ("expectation", "column", "severity", "observed")
    return out.partition, out.success, sorted(tuple(f[k] for k in keys) for f in out.failed)


@pytest.mark.parametrize("defect", sorted(BATCH_DEFECTS))
def test_batched_days_agree_with_each_day_alone(defect):
    suite, clean, corrupt = BATCH_DEFECTS[defect]
    frames = [(p, corrupt(clean()) if i == BAD else clean()) for i, p in enumerate(DAYS)]
    batched = validate_days(frames, suite)
    alone = [validate_frame(df, suite, partition=p) for p, df in frames]
    assert [_essence(o) for o in batched] == [_essence(o) for o in alone]
    # the defect is in one day: only that day fails (or warns), and its summary says which
    assert alone[BAD].failed, alone[BAD].summary()
    for i, out in enumerate(batched):
        assert bool(out.failed) == (i == BAD), out.summary()
    assert f"partition {DAYS[BAD]}" in batched[BAD].summary()


def test_good_days_are_judged_in_one_validation_per_table(monkeypatch):
    calls = []
    real = ge_runner._validate
    monkeypatch.setattr(ge_runner, "_validate", lambda pdf, s: calls.append(s.name) or real(pdf, s))
    frames = [(p, conn_frame(seed=i)) for i, p in enumerate(DAYS)]
    outcomes = validate_days(frames, "validated.conn")
    assert [o.success and not o.failed for o in outcomes] == [True] * len(DAYS)
    assert [o.partition for o in outcomes] == DAYS
    evaluated = len(load_suite_json("validated.conn")["expectations"])
    assert all(o.evaluated == evaluated for o in outcomes)
    assert len(calls) == 2  # the rows of every day, and the row counts per day


def test_uniqueness_across_days_is_not_a_failure_but_within_a_day_is():
    day = conn_frame(50)  # every day has the same uids
    assert [o.success for o in validate_days([(p, day) for p in DAYS], "validated.conn")] == [
        True
    ] * len(DAYS)
    twice = pl.concat([day.head(10), day.head(10)])
    outcomes = validate_days([(DAYS[0], day), (DAYS[1], twice), (DAYS[2], day)], "validated.conn")
    assert [o.success for o in outcomes] == [True, False, True]
    (failure,) = outcomes[1].errors
    assert failure["expectation"] == "expect_compound_columns_to_be_unique"
    assert failure["column"] == "sensor,uid"


def test_compound_uniqueness_still_ignores_rows_missing_every_key_column(monkeypatch):
    # Per day, GE skips rows whose key columns are all missing; a batch must skip them too.
    # (hermit's suites make some key column non-null, so this needs a suite of its own.)
    spec = {
        "name": "test.compound_keys",
        "expectations": [
            {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["a", "b"]}},
            {
                "type": "expect_table_columns_to_match_set",
                "kwargs": {"column_set": ["a", "b"], "exact_match": True},
            },
        ],
    }
    stored = suites.load_suite_json
    monkeypatch.setattr(
        suites, "load_suite_json", lambda n: spec if n == spec["name"] else stored(n)
    )
    ge_runner.batch_plan.cache_clear()
    schema = {"a": pl.String, "b": pl.Int64}
    clean = pl.DataFrame({"a": [None, None, "x", "y"], "b": [None, None, 1, 1]}, schema=schema)
    half = pl.DataFrame({"a": ["x", "x", "y"], "b": [None, None, 1]}, schema=schema)
    frames = [(p, half if i == BAD else clean) for i, p in enumerate(DAYS)]
    batched = validate_days(frames, spec["name"])
    alone = [validate_frame(df, spec["name"], partition=p) for p, df in frames]
    assert [_essence(o) for o in batched] == [_essence(o) for o in alone]
    assert [o.success for o in batched] == [i != BAD for i in range(len(DAYS))]
    calls = []
    real = ge_runner._validate
    monkeypatch.setattr(ge_runner, "_validate", lambda pdf, s: calls.append(1) or real(pdf, s))
    assert all(o.success for o in validate_days([(p, clean) for p in DAYS], spec["name"]))
    assert len(calls) == 1  # passed as one batch, not day by day
    ge_runner.batch_plan.cache_clear()


def test_one_row_per_day_holds_in_batch_form(monkeypatch):
    summary = _reporting("daily_summary")
    assert summary.height == 1
    calls = []
    real = ge_runner._validate
    monkeypatch.setattr(ge_runner, "_validate", lambda pdf, s: calls.append(1) or real(pdf, s))
    outcomes = validate_days([(p, summary) for p in DAYS], "reporting.daily_summary")
    assert all(o.success and not o.failed for o in outcomes)
    assert len(calls) == 2


def test_a_per_day_share_is_judged_per_day():
    # pooled over the days 10% of sessions are unknown (< 20%), but one day alone has 30%
    frames = [(p, sessions_frame(unknown_share=0.0)) for p in DAYS]
    frames[1] = (DAYS[1], sessions_frame(unknown_share=0.3))
    outcomes = validate_days(frames, "categorised.sessions")
    assert [bool(o.warnings) for o in outcomes] == [i == 1 for i in range(len(DAYS))]
    assert all(o.success for o in outcomes)
    assert outcomes[1].warnings[0]["column"] == "category"


def test_empty_days_in_a_batch_pass():
    frames = [(p, conn_frame() if i % 2 else conn_frame().head(0)) for i, p in enumerate(DAYS)]
    assert all(o.success and not o.failed for o in validate_days(frames, "validated.conn"))


@pytest.mark.parametrize("suite", sorted(EXPECTED_SUITES))
def test_batch_plan_keeps_every_expectation_once(suite):
    spec = load_suite_json(suite)
    plan = batch_plan(suite)
    parts = (plan.batch, plan.row_counts, plan.per_day)
    assert sum(len(p["expectations"]) for p in parts) == len(spec["expectations"])
    for exp in plan.batch["expectations"] + plan.row_counts["expectations"]:
        assert exp["kwargs"].get("mostly") is None
        assert not exp["type"].startswith("expect_table_row_count")
    mostly = [e for e in spec["expectations"] if e["kwargs"].get("mostly") is not None]
    assert all(e in plan.per_day["expectations"] for e in mostly)
    for part in parts:  # GE accepts every rewritten expectation
        ge_runner._ge_suite(f"{suite}#test-{part['name']}", part)


REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "zeek-sensor-archive"


@pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata is absent")
@pytest.mark.parametrize("table", ["conn", "dns", "ssl", "http"])
def test_a_real_sensor_day_passes_its_suites(table):
    transform = pytest.importorskip("assets.validated.transform")
    day = dt.date(2024, 4, 20)
    files = [
        transform.RawFile(
            str(p.relative_to(REALDATA)),
            dt.date.fromisoformat(p.parent.name),
            "sensor",
            p.read_bytes,
        )
        for p in sorted(REALDATA.glob("*/*"))
        if transform.log_table(p.name) == table
    ]
    result = transform.validate_partition(files, table, day)
    assert result.valid.height > 0
    checks = [(result.valid, f"validated.{table}"), (result.quarantine, "quarantine.records")]
    for frame, suite in checks:
        out = validate_frame(frame, suite, partition=day.isoformat())
        assert out.success and not out.failed, out.summary()


@pytest.fixture
def uid_seen_by_ge(monkeypatch) -> list:
    """Each pandas copy of `uid` handed to GE, in order."""
    seen = []
    real = frames._to_pandas

    def spy(df, hashed=frozenset()):
        pdf = real(df, hashed)
        if "uid" in pdf.columns:
            seen.append(pdf["uid"])
        return pdf

    monkeypatch.setattr(frames, "_to_pandas", spy)
    return seen


def test_text_keys_reach_ge_as_hashes_and_a_failure_quotes_the_text(uid_seen_by_ge):
    assert validate_frame(conn_frame(), "validated.conn", partition=DAY).success
    assert [str(u.dtype) for u in uid_seen_by_ge] == ["int64"]  # uniqueness judged on 64-bit hashes

    uid_seen_by_ge.clear()
    dup = conn_frame().with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("Crepeated")).otherwise("uid").alias("uid")
    )
    dup = dup.with_columns(
        pl.when(pl.int_range(pl.len()) == 8).then(pl.lit("Crepeated")).otherwise("uid").alias("uid")
    )
    out = validate_frame(dup, "validated.conn", partition=DAY)
    (failure,) = out.errors
    assert failure["expectation"] == "expect_compound_columns_to_be_unique"
    assert "'Crepeated'" in failure["observed"]  # the text, from the exact re-run
    assert len(uid_seen_by_ge) == 2 and str(uid_seen_by_ge[-1].dtype) != "int64"


def test_a_hash_collision_never_fails_distinct_values(monkeypatch, uid_seen_by_ge):
    # (equal text always has equal hashes, so duplicates are never missed.) Force every text
    # to one hash: distinct uids then look duplicated on the fast path, and the exact re-run
    # on the text must clear them.
    real_hash = pl.Expr.hash
    monkeypatch.setattr(
        pl.Expr,
        "hash",
        lambda self, *a, **k: real_hash(pl.lit("x"), *a).alias(self.meta.output_name()),
    )
    out = validate_frame(conn_frame(), "validated.conn", partition=DAY)
    assert out.success and not out.failed, out.summary()
    # all collided, then judged on the text
    assert [u.nunique() for u in uid_seen_by_ge] == [1, conn_frame().height]


def test_ge_gets_one_group_of_columns_at_a_time(monkeypatch):
    # A big table's pandas copy is made per group of columns an expectation reads, never the
    # whole table; a small one is converted once (GE's fixed cost dominates there).
    widths = []
    real = frames._to_pandas
    monkeypatch.setattr(
        frames,
        "_to_pandas",
        lambda df, hashed=frozenset(): widths.append(df.width) or real(df, hashed),
    )
    frame = conn_frame()
    monkeypatch.setattr(gx_engine, "SMALL_TABLE_ROWS", frame.height)
    assert validate_frame(frame, "validated.conn", partition=DAY).success
    assert widths and max(widths) == 2 < frame.width  # (sensor, uid) is the widest group
    widths.clear()
    monkeypatch.setattr(gx_engine, "SMALL_TABLE_ROWS", frame.height + 1)
    assert validate_frame(frame, "validated.conn", partition=DAY).success
    referenced = ge_runner.referenced_columns(load_suite_json("validated.conn"))
    assert widths == [len(referenced)]


def test_a_text_key_with_nulls_is_judged_on_the_text(uid_seen_by_ge):
    frame = conn_frame().with_columns(
        pl.when(pl.int_range(pl.len()) == 4).then(None).otherwise("uid").alias("uid")
    )
    out = validate_frame(frame, "validated.conn", partition=DAY)
    assert [f["column"] for f in out.errors] == ["uid"]  # not null
    assert uid_seen_by_ge and "int64" not in [str(u.dtype) for u in uid_seen_by_ge]


def test_a_batch_of_days_finds_a_duplicate_key_and_quotes_its_text():
    day = conn_frame(50)
    twice = day.with_columns(
        pl.when(pl.int_range(pl.len()) < 2).then(pl.lit("Cdouble")).otherwise("uid").alias("uid")
    )
    outcomes = validate_days([(DAYS[0], day), (DAYS[1], twice)], "validated.conn")
    assert [o.success for o in outcomes] == [True, False]
    (failure,) = outcomes[1].errors
    assert "'Cdouble'" in failure["observed"]
