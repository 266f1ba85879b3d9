"""Compare what the pipeline found with what a scenario planted (the simulator's ground truth),
figure by figure, with the tolerances the product promises."""

from __future__ import annotations

from dataclasses import dataclass

from assets.report.figures import NON_WEB_CATEGORIES, RANKING_LENGTH

SHARE_TOLERANCE = 0.02  # two percentage points


@dataclass(frozen=True)
class Comparison:
    figure: str
    found: object
    planted: object
    ok: bool


def planted_headline(
    truth: dict, service_categories: dict[str, str], questions: tuple = ()
) -> dict:
    """The headline figures a scenario planted, computed from its ground-truth JSON the same
    way the report computes them from the lake (outbound shares, inbound foreign sources),
    with the answers to the networks file's questions where the truth holds them."""
    period = truth["period"]
    shares = period["category_shares"]
    ranking = [
        s
        for s in period["service_ranking"]
        if service_categories.get(s, "unknown") not in NON_WEB_CATEGORIES
    ][:RANKING_LENGTH]
    suspect = truth.get("suspect", {})
    planted = {
        "streaming_gaming_share": shares.get("streaming", 0.0) + shares.get("gaming", 0.0),
        "obfuscation_share": shares.get("obfuscation", 0.0),
        "busiest_local_hour": period["busiest_local_hour"],
        "social_web_ranking": ", ".join(ranking),
    }
    for q in questions:
        if q.kind == "inbound_country_share":
            planted[q.name] = period["countries"]["inbound_sources"].get(q.target, 0.0)
        elif q.kind == "first_service_day":
            days = sorted(
                day for day, d in truth["days"].items() if d["service_counts"].get(q.target, 0)
            )
            planted[q.name] = days[0] if days else None
    if suspect:
        planted["scanning_sources"] = len(suspect.get("scanners", []))
        planted["beacons"] = len(suspect.get("beacons", []))
    return planted


def compare_headline(found: dict, planted: dict) -> list[Comparison]:
    """One row per planted figure: shares within two points, the rest exactly equal."""
    rows = []
    for figure, want in planted.items():
        got = found.get(figure)
        if figure.endswith("_share"):
            ok = got is not None and abs(float(got) - float(want)) <= SHARE_TOLERANCE
        else:
            ok = str(got) == str(want)
        rows.append(Comparison(figure, got, want, ok))
    return rows
