"""Questions a deployment asks of every period report, declared beside its networks (the
`questions:` list of networks.yaml): "what share of inbound foreign activity comes from India",
"when did Bitcoin first appear". The report answers them as headline figures and cards, so a
user watching other networks sees their own questions, not the 2017 study's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from assets.reference.loaders import NETWORKS_PATH, ReferenceDataError

# kind -> what `target` names
KINDS = {
    "inbound_country_share": "an ISO country code: its share of inbound foreign sessions",
    "outbound_country_share": "an ISO country code: its share of outbound foreign sessions",
    "first_service_day": "a service name: the first day it was seen",
    "first_category_day": "a category: the first day it was seen",
}
SHARE_KINDS = {"inbound_country_share", "outbound_country_share"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Question:
    name: str  # the headline column that answers it
    label: str  # what the report's card says
    kind: str
    target: str

    @property
    def is_share(self) -> bool:
        return self.kind in SHARE_KINDS


def load_questions(path: str | Path | None = None) -> tuple[Question, ...]:
    """The `questions:` of a networks file (none declared: no questions)."""
    path = Path(path or NETWORKS_PATH)
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    entries = raw.get("questions") if isinstance(raw, dict) else None
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ReferenceDataError(f"{path}: `questions` must be a list")
    out, seen = [], set()
    for i, e in enumerate(entries):
        where = f"{path}: questions[{i}]"
        if not isinstance(e, dict) or set(e) - {"name", "label", "kind", "target"}:
            raise ReferenceDataError(f"{where}: expected name, label, kind, target")
        name, kind, target = str(e.get("name", "")), e.get("kind"), e.get("target")
        if not _NAME.match(name) or name in seen:
            raise ReferenceDataError(f"{where}: name {name!r} must be a new snake_case name")
        if kind not in KINDS:
            raise ReferenceDataError(f"{where}: kind {kind!r}: expected one of {', '.join(KINDS)}")
        if not isinstance(target, str) or not target:
            raise ReferenceDataError(f"{where}: target must be {KINDS[kind]}")
        if kind in SHARE_KINDS and not re.fullmatch(r"[A-Z]{2}", target):
            raise ReferenceDataError(f"{where}: target {target!r} is not an ISO country code")
        seen.add(name)
        out.append(Question(name, str(e.get("label") or name), kind, target))
    return tuple(out)
