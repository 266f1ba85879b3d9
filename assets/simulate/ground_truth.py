"""The ground truth: what the pipeline should find in the simulated logs.

Shares of categories, services, local hours and countries are over outbound connections
(direction = outbound in the sessions table) unless named otherwise; the DNS lookups to the
networks' own resolvers are `internal` and inbound connections come from abroad. Per-day
figures are keyed by the UTC day of the record's ts, i.e. by the pipeline's partition.
"""

from __future__ import annotations

import json
from collections import defaultdict

import polars as pl

from assets.core.vocabulary import MONITORED_DIRECTIONS, ZEEK_TABLES
from assets.simulate.scenario import Scenario


class TruthAccumulator:
    """Collects small per-slice aggregates; `build` turns them into the JSON document."""

    def __init__(self, sc: Scenario):
        self.sc = sc
        self.parts: list[pl.DataFrame] = []
        self.records: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.folder_lines: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.injected: dict[str, dict[str, dict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(int))
        )

    def add_sessions(self, truth: pl.DataFrame) -> None:
        if truth.height == 0:
            return
        agg = (
            truth.with_columns(
                t=pl.from_epoch("ts", "us").dt.replace_time_zone("UTC"),
            )
            .with_columns(
                day=pl.col("t").dt.date().cast(pl.String),
                local_hour=pl.col("t").dt.convert_time_zone(self.sc.timezone).dt.hour(),
            )
            .group_by(["day", "direction", "service", "category", "remote_country", "local_hour"])
            .len()
        )
        self.parts.append(agg)

    def add_records(self, log: str, ts_us: pl.Series) -> None:
        days = pl.from_epoch(ts_us, "us").dt.date().cast(pl.String).value_counts()
        for day, n in days.iter_rows():
            self.records[day][log] += n

    def add_folder(self, folder: str, log: str, lines: int) -> None:
        self.folder_lines[folder][log] += lines

    def add_injected(self, folder: str, log: str, reason: str, n: int = 1) -> None:
        self.injected[folder][log][reason] += n

    # ---- output -------------------------------------------------------------------------------
    def _summary(self, df: pl.DataFrame) -> dict:
        out = df.filter(pl.col("direction") == "outbound")
        inb = df.filter(pl.col("direction") == "inbound")
        total = int(out["len"].sum() or 0)

        def counts(frame: pl.DataFrame, key: str) -> dict:
            g = (
                frame.group_by(key)
                .agg(pl.col("len").sum())
                .sort(["len", key], descending=[True, False])
            )
            return {str(k): int(v) for k, v in g.iter_rows()}

        def shares(c: dict) -> dict:
            t = sum(c.values())
            return {k: round(v / t, 6) for k, v in c.items()} if t else {}

        cats = counts(out, "category")
        svcs = counts(out, "service")
        hours = {h: 0 for h in range(24)}
        hours.update({int(k): v for k, v in counts(out, "local_hour").items()})
        dest = counts(out.filter(pl.col("remote_country") != ""), "remote_country")
        src = counts(inb.filter(pl.col("remote_country") != ""), "remote_country")
        dirs = counts(df, "direction")
        return {
            "sessions": {d: dirs.get(d, 0) for d in MONITORED_DIRECTIONS},
            "category_counts": cats,
            "category_shares": shares(cats),
            "service_counts": svcs,
            "service_ranking": list(svcs),
            "hourly_counts": {str(h): hours[h] for h in range(24)},
            "hourly_profile": {
                str(h): round(hours[h] / total, 6) if total else 0 for h in range(24)
            },
            "busiest_local_hour": max(hours, key=hours.get) if total else None,
            "countries": {
                "inbound_sources": shares(src),
                "inbound_source_counts": src,
                "outbound_destinations": shares(dest),
            },
            "inbound_service_counts": counts(inb, "service"),
        }

    def build(self, meta: dict) -> dict:
        df = (
            pl.concat(self.parts).group_by(self.parts[0].columns[:-1]).agg(pl.col("len").sum())
            if self.parts
            else pl.DataFrame(
                schema={
                    "day": pl.String, "direction": pl.String, "service": pl.String,
                    "category": pl.String, "remote_country": pl.String,
                    "local_hour": pl.Int8, "len": pl.UInt32,
                }
            )
        )  # fmt: skip
        days = {}
        for (day,), part in sorted(df.group_by(["day"]), key=lambda x: x[0][0]):
            summary = self._summary(part)
            summary["records"] = dict(self.records.get(day, {}))
            days[day] = summary
        period = self._summary(df)
        period["records"] = {
            log: sum(d.get(log, 0) for d in self.records.values()) for log in ZEEK_TABLES
        }
        by_reason: dict[str, int] = defaultdict(int)
        by_log: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for logs in self.injected.values():
            for log, reasons in logs.items():
                for r, n in reasons.items():
                    by_reason[r] += n
                    by_log[log][r] += n
        sc = self.sc
        return {
            **meta,
            "scope": (
                "Shares and rankings are over outbound connections (sessions with "
                "direction=outbound); DNS lookups to the networks' own resolvers are internal; "
                "inbound counts are connections from abroad. Days are UTC days of ts "
                "(partitions); hours are local hours in the scenario's time zone."
            ),
            "timezone": sc.timezone,
            "networks": [{"cidr": n.cidr, "label": n.label} for n in sc.networks],
            "events": [
                {
                    "date": e.date.isoformat(),
                    "name": e.name,
                    "activity": e.activity,
                    "weights": e.weights,
                }
                for e in sc.events
            ],  # fmt: skip
            "period": period,
            "days": days,
            "raw_lines_by_folder": {k: dict(v) for k, v in sorted(self.folder_lines.items())},
            "injected": {
                "total": sum(by_reason.values()),
                "by_reason": dict(sorted(by_reason.items())),
                "by_log": {k: dict(v) for k, v in sorted(by_log.items())},
                "by_folder": {
                    f: {log: dict(r) for log, r in logs.items()}
                    for f, logs in sorted(self.injected.items())
                },
            },
        }


def to_json(doc: dict) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=False) + "\n").encode()
