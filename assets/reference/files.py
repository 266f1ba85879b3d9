"""Helpers every reference-data loader shares: the error type, YAML reading, hashes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml


class ReferenceDataError(ValueError):
    """A reference data file is malformed; the message names the file and the entry."""


def read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ReferenceDataError(f"{path}: file not found") from e
    except yaml.YAMLError as e:
        raise ReferenceDataError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ReferenceDataError(f"{path}: expected a mapping at the top level")
    return data


def str_list(path: Path, where: str, value: object, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReferenceDataError(f"{path}: {where}: `{key}` must be a list of strings")
    return tuple(value)


def normalise_domain(text: str) -> str:
    return text.strip().lower().rstrip(".").encode("idna").decode("ascii")


def file_sha256(path: str | Path) -> str:
    """Content hash of a reference file (recorded on the sessions it categorised)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
