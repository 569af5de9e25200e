"""Pure: how core values show themselves in a notebook without importing the report layer.

The report layer registers an HTML renderer per class (``chunkpilot.report.notebook`` does
it on import, and the commands import it); ``Plan._repr_html_`` looks the renderer up here.
Without one registered, ``_repr_html_`` returns ``None`` and notebooks show the plain repr.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["register_html", "repr_html"]

_RENDERERS: dict[type, Callable[[Any], str]] = {}


def register_html(cls: type, render: Callable[[Any], str]) -> None:
    """Use ``render(obj)`` for the ``_repr_html_`` of ``cls`` and its subclasses."""
    _RENDERERS[cls] = render


def repr_html(obj: Any) -> str | None:
    """HTML for ``obj`` from the closest registered renderer, else ``None``."""
    for klass in type(obj).__mro__:
        if klass in _RENDERERS:
            return _RENDERERS[klass](obj)
    return None
