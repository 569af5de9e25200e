"""chunkpilot: pick Dask chunk sizes from measurements instead of guesses."""

from chunkpilot.errors import ChunkpilotError, ChunkpilotWarning

__version__ = "0.1.0"
__all__ = ["ChunkpilotError", "ChunkpilotWarning", "__version__", "advise", "check", "tune", "watch"]

#: Public functions loaded on first use, so ``import chunkpilot`` stays light.
#: (Modules are not named like the functions, so importing one never shadows the function.)
_LAZY = {"advise": "chunkpilot.api", "check": "chunkpilot.checkup", "tune": "chunkpilot.tuning",
         "watch": "chunkpilot.watching"}


def __getattr__(name: str):  # noqa: ANN202 - PEP 562 module attribute hook
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'chunkpilot' has no attribute {name!r}")
