"""chunkpilot: pick Dask chunk sizes from measurements instead of guesses.

The public verbs live in :mod:`chunkpilot.commands` and load on first use, so
``import chunkpilot`` stays light (no dask.array, no distributed). Importing it registers
chunkpilot's thresholds in dask's config (``chunkpilot.*``, see :mod:`chunkpilot.config`).
Linux and macOS are supported; elsewhere the import raises ``UnsupportedPlatformError``.
"""

import importlib
import sys
from typing import Any

from chunkpilot.errors import ChunkpilotError, ChunkpilotWarning, UnsupportedPlatformError

#: Where chunkpilot runs: its sandboxes use POSIX resource limits and the kernel's counters.
SUPPORTED_PLATFORMS = {"linux": "Linux", "darwin": "macOS"}


def check_platform(platform: str = sys.platform) -> None:
    """Refuse an operating system chunkpilot cannot measure memory on, with the way out."""
    if not platform.startswith(tuple(SUPPORTED_PLATFORMS)):
        raise UnsupportedPlatformError(
            "Expected Linux or macOS: chunkpilot profiles in sandboxed subprocesses with POSIX "
            f"resource limits and kernel memory counters. Got {platform!r} instead; on Windows, "
            "run chunkpilot inside WSL2.")


check_platform()

from chunkpilot import config  # noqa: E402, F401  (registers chunkpilot.* in dask config)

__version__ = "0.1.0"
__all__ = ["ChunkpilotError", "ChunkpilotWarning", "ClusterWatch", "UnsupportedPlatformError",
           "__version__", "advise", "check", "tune", "watch"]

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
