"""The study from flows: each planted figure beside what the Zeek run and the flow runs (one
per sampling rate) found, with the error, and, where flows cannot give a figure, why.

Flows carry no hostnames: a session is named by the remote address's prefix rule or AS only.
A planted service whose addresses are its owner's (Instagram at Facebook's, YouTube at
Google's, Youku at Alibaba's cloud) is named after the owner: a figure that needs such a
service by name (a ranking that holds it) cannot come from flows, and a share that counts it
comes out low. The reasons are measured, not assumed: `unnamed` lists, per flow run, the
planted services the run never named and what it named their addresses instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from assets.report.fidelity import SHARE_TOLERANCE

# what the flows acceptance asks for; other shares keep the product's two points
FLOW_SHARE_TOLERANCE = {"streaming_gaming_share": 0.05}
SHARE_CATEGORIES = {
    "streaming_gaming_share": ("streaming", "gaming"),
    "obfuscation_share": ("obfuscation",),
}
CANNOT = "cannot"


@dataclass(frozen=True)
class Unnamed:
    """A planted service that a flow run never named, and where its sessions went."""

    service: str
    category: str
    owner: str  # its real owner / AS organisation (the scenario's hosting file)
    named_instead: tuple[str, ...]  # what the flow run called its addresses, most first


@dataclass(frozen=True)
class FlowFigure:
    figure: str
    planted: object
    zeek: object
    found: dict[int, object]  # sampling rate -> value, or CANNOT
    error: dict[int, str]
    ok: dict[int, bool | None]  # None: flows cannot give it
    notes: list[str] = field(default_factory=list)


def _ranking_list(value) -> list[str]:
    return [s.strip() for s in str(value or "").split(",") if s.strip()]


def _error(figure: str, got, want) -> tuple[str, bool]:
    if got is None:
        return "not found", False
    if figure.endswith("_share"):
        diff = float(got) - float(want)
        tol = FLOW_SHARE_TOLERANCE.get(figure, SHARE_TOLERANCE)
        return f"{diff * 100:+.1f} pts", abs(diff) <= tol
    if figure == "busiest_local_hour":
        diff = int(got) - int(want)
        return ("exact" if diff == 0 else f"{diff:+d} h"), diff == 0
    if figure.endswith("_date"):
        diff = (dt.date.fromisoformat(str(got)) - dt.date.fromisoformat(str(want))).days
        return ("exact" if diff == 0 else f"{diff:+d} days"), diff == 0
    if isinstance(want, int) and not isinstance(want, bool):
        diff = int(got) - want
        return ("exact" if diff == 0 else f"{diff:+d}"), diff == 0
    same = str(got) == str(want)
    return ("exact" if same else "differs"), same


def _describe(u: Unnamed) -> str:
    instead = ", ".join(u.named_instead[:2]) if u.named_instead else "nothing (unknown)"
    return f"{u.service} (at {u.owner}) -> {instead}"


def flow_fidelity(
    planted: dict,
    zeek: dict | None,
    flows: dict[int, dict],
    unnamed: dict[int, list[Unnamed]],
) -> list[FlowFigure]:
    """One row per planted figure. `flows`: sampling rate -> the flow run's headline figures;
    `unnamed`: sampling rate -> the planted services that run never named."""
    rows = []
    for figure, want in planted.items():
        found, error, ok, notes = {}, {}, {}, []
        for rate, headline in flows.items():
            got = headline.get(figure)
            missing = unnamed.get(rate, [])
            if figure == "social_web_ranking":
                lost = [u for u in missing if u.service in _ranking_list(want)]
                if lost:
                    found[rate], error[rate], ok[rate] = CANNOT, "-", None
                    notes.append(
                        f"(1:{rate}) no hostnames, so the ranking needs every ranked service "
                        f"by address; {'; '.join(_describe(u) for u in lost)}"
                        f" (flows rank: {got})"
                    )
                    continue
            found[rate] = got
            error[rate], ok[rate] = _error(figure, got, want)
            cats = SHARE_CATEGORIES.get(figure)
            if cats:
                lost = [u for u in missing if u.category in cats]
                if lost:
                    notes.append(
                        f"(1:{rate}) named after their owners, not counted: "
                        + "; ".join(_describe(u) for u in lost)
                    )
        rows.append(FlowFigure(figure, want, (zeek or {}).get(figure), found, error, ok, notes))
    return rows


def unnamed_services(
    planted_counts: dict[str, int],
    categories: dict[str, str],
    named: dict[str, dict[str, int]],
    owners: dict[str, str],
) -> list[Unnamed]:
    """The planted outbound services (name -> sessions planted) that a flow run never named.

    `named`: planted service -> {service the flow run gave its addresses' sessions: count};
    `owners`: planted service -> its owner as the hosting file says."""
    out = []
    for service, n in sorted(planted_counts.items(), key=lambda kv: -kv[1]):
        got = named.get(service, {})
        if n == 0 or got.get(service, 0) > 0:
            continue
        instead = tuple(s for s, _ in sorted(got.items(), key=lambda kv: -kv[1]) if s != service)
        out.append(
            Unnamed(service, categories.get(service, "unknown"), owners.get(service, "?"), instead)
        )
    return out
