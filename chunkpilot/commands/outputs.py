"""Edge: check a path chunkpilot will write (a report) before any work is done."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from chunkpilot.errors import InvalidArgumentError


def check_output_path(path: Any, *, sources: Sequence[Any] = ()) -> None:
    """Refuse a report path that cannot be written, before any work is done."""
    parent = os.path.dirname(os.path.abspath(os.fspath(path)))
    if os.path.isdir(path) or not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise InvalidArgumentError(
            f"Expected a report path (a file) in an existing, writable directory. Got "
            f"{os.fspath(path)!r} instead."
        )
