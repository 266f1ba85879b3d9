"""A raw file as the validated layer sees it: where it was found, and how to load its bytes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

_FILE = "__file"  # index of the file a duplicate came from (to quote its raw text)


@dataclass(frozen=True)
class RawFile:
    source_file: str  # path relative to the raw root, recorded in quarantine
    folder_day: dt.date  # the date folder it was found in
    sensor: str
    load: Callable[[], bytes]  # the file's stored bytes (maybe gzip-compressed)
    # a binary file open on those bytes, to read them a chunk at a time (None: `load`)
    open: Callable[[], BinaryIO] | None = None

    def stored(self) -> bytes | BinaryIO:
        """What to read the file from: an open file when it can be streamed, else its bytes."""
        return self.open() if self.open is not None else self.load()
