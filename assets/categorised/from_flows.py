"""A day's categorised sessions from both sources: Zeek conn records and flow records.

Flow sessions go through the same ``categorise`` chain as Zeek connections; they have no
TLS or HTTP logs, so their hostnames come from passive DNS only (the same network's
validated dns log, joined by client and server address) and the rest is attribution by
address: IP prefix rules, then the remote AS.
"""

from __future__ import annotations

import polars as pl

from assets.categorised.flow_sessions import flow_sessions
from assets.categorised.sessions import (
    INPUT_COLUMNS,
    CategorisedResult,
    categorise,
    session_stats,
)
from assets.reference.loaders import Reference
from assets.validated.schemas import VALIDATED_SCHEMAS

__all__ = ["categorise_day", "categorise_flows"]


def _empty(table: str) -> pl.DataFrame:
    schema = VALIDATED_SCHEMAS[table]
    return pl.DataFrame(schema={c: schema[c] for c in INPUT_COLUMNS[table] if c in schema})


def categorise_flows(
    flows: pl.DataFrame, dns: pl.DataFrame, *, reference: Reference
) -> CategorisedResult:
    """One day's validated flow records -> categorised sessions (``source`` = flow)."""
    sessions = flow_sessions(flows)
    result = categorise(sessions, dns, _empty("ssl"), _empty("http"), reference=reference)
    result.stats["flow_records"] = flows.height
    return result


def categorise_day(
    conn: pl.DataFrame | None,
    flows: pl.DataFrame | None,
    dns: pl.DataFrame,
    ssl: pl.DataFrame,
    http: pl.DataFrame,
    *,
    reference: Reference,
) -> CategorisedResult:
    """Zeek sessions (from ``conn``) then flow sessions (from ``flows``), either may be
    None; stats cover both, with the rows each source gave."""
    parts: list[pl.DataFrame] = []
    counts = {"sessions_zeek": 0, "sessions_flow": 0, "validated_flows": 0}
    if conn is not None:
        zeek = categorise(conn, dns, ssl, http, reference=reference).sessions
        counts["sessions_zeek"] = zeek.height
        parts.append(zeek)
    if flows is not None:
        flow = categorise_flows(flows, dns, reference=reference).sessions
        counts["sessions_flow"] = flow.height
        counts["validated_flows"] = flows.height
        parts.append(flow)
    if not parts:
        raise ValueError("neither conn nor flow records were given")
    sessions = pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
    return CategorisedResult(sessions=sessions, stats={**session_stats(sessions), **counts})
