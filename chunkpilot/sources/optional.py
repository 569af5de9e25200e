"""Import optional extras with an install hint instead of a bare ImportError."""

from __future__ import annotations

import importlib
from typing import Any

from chunkpilot.errors import MissingDependencyError


def import_optional(module: str, purpose: str, extra: str) -> Any:
    """``import module``, or :class:`MissingDependencyError` naming
    ``pip install "chunkpilot[extra]"``."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(
            f"Expected {module} {purpose}. Got no {module} installed: "
            f'pip install "chunkpilot[{extra}]"'
        ) from e
