"""Category lists in the squidGuard / UT1 blacklist directory format, mapped to hermit's.

A list directory holds one folder per list category, each with a ``domains`` file: one
registered domain (or host name) per line, ``#`` comments and blank lines ignored. A small
YAML mapping (``{list category: hermit category}``) says which folders hermit reads and
what they mean; folders it does not name are ignored. hermit never downloads a list: the
user points it at a copy (``HERMIT_CATEGORY_LISTS``).

The answer is a suffix table like the taxonomy's domain rules: a listed ``example.com``
covers ``www.example.com``. A domain listed under several mapped categories keeps the one
the mapping names first, so the mapping's order is the tie-break.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

from assets.reference.files import ReferenceDataError, normalise_domain

_NAME_RE = re.compile(r"^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9-]{1,63}$")
_IP_RE = re.compile(r"^[0-9.]+$|:")


@dataclass(frozen=True)
class CategoryLists:
    """``rules``: suffix, category (hermit's), list_category; ``sha256`` of lists + mapping."""

    rules: pl.DataFrame
    sha256: str
    root: str = ""

    @classmethod
    def empty(cls) -> CategoryLists:
        return cls(
            pl.DataFrame(
                schema={"suffix": pl.String, "category": pl.String, "list_category": pl.String}
            ),
            sha256="",
        )


def load_mapping(path: str | Path, categories: tuple[str, ...]) -> dict[str, str]:
    """``{list category: hermit category}``, every target one of ``categories``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ReferenceDataError(f"{path}: file not found") from e
    except yaml.YAMLError as e:
        raise ReferenceDataError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("categories"), dict):
        raise ReferenceDataError(f"{path}: expected `categories: {{list category: category}}`")
    out: dict[str, str] = {}
    for k, v in data["categories"].items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ReferenceDataError(f"{path}: categories.{k}: names must be strings")
        if v not in categories or v == "unknown":
            raise ReferenceDataError(
                f"{path}: categories.{k}: {v!r} is not a taxonomy category (or is `unknown`)"
            )
        out[k] = v
    return out


def load_category_lists(
    root: str | Path, mapping_path: str | Path, categories: tuple[str, ...]
) -> CategoryLists:
    """Read the mapped folders of a UT1-format list directory into a suffix table."""
    root = Path(root)
    if not root.is_dir():
        raise ReferenceDataError(f"{root}: category list directory not found")
    mapping = load_mapping(mapping_path, categories)
    digest = hashlib.sha256(Path(mapping_path).read_bytes())
    frames = []
    for order, (list_cat, cat) in enumerate(mapping.items()):
        f = root / list_cat / "domains"
        if not f.is_file():
            continue  # a mapping may name categories this copy of the lists does not have
        data = f.read_bytes()
        digest.update(f"{list_cat}\0{len(data)}\0".encode())
        digest.update(data)
        names = _domains(f, data)
        frames.append(
            pl.DataFrame({"suffix": names}, schema={"suffix": pl.String}).with_columns(
                category=pl.lit(cat), list_category=pl.lit(list_cat), _order=pl.lit(order)
            )
        )
    if not frames:
        raise ReferenceDataError(
            f"{root}: none of the mapped categories ({', '.join(mapping)}) has a `domains` file"
        )
    rules = (
        pl.concat(frames)
        .sort("_order", maintain_order=True)
        .unique(subset="suffix", keep="first", maintain_order=True)
        .drop("_order")
    )
    return CategoryLists(rules=rules, sha256=digest.hexdigest(), root=str(root))


def _domains(path: Path, data: bytes) -> list[str]:
    out = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        text = line.split("#", 1)[0].strip().lower()
        if not text or _IP_RE.search(text):
            continue  # UT1 lists some bare addresses; an address is no domain rule
        try:
            name = normalise_domain(text)
        except UnicodeError:
            continue
        if _NAME_RE.match(name):
            out.append(name)
    return out
