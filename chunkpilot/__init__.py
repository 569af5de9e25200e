"""chunkpilot: pick Dask chunk sizes from measurements instead of guesses.

The public verbs live in :mod:`chunkpilot.commands` and load on first use, so
``import chunkpilot`` stays light (no dask.array, no distributed).
"""

import importlib
from typing import Any

from chunkpilot.errors import ChunkpilotError, ChunkpilotWarning

__version__ = "0.1.0"
__all__ = ["ChunkpilotError", "ChunkpilotWarning", "ClusterWatch", "__version__", "advise", "check",
           "tune", "watch"]

#: Public name -> the module that defines it.
_COMMANDS = {"advise": "chunkpilot.commands.advise", "check": "chunkpilot.commands.check",
             "tune": "chunkpilot.commands.tune", "watch": "chunkpilot.commands.watch",
             "ClusterWatch": "chunkpilot.cluster.plugin"}  # the scheduler plugin (issue 16)


def __getattr__(name: str) -> Any:  # PEP 562: load a command on first use
    if name in _COMMANDS:
        return getattr(importlib.import_module(_COMMANDS[name]), name)
    raise AttributeError(f"module 'chunkpilot' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_COMMANDS))
