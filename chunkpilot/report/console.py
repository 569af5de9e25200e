"""The rich Console every command prints through: plain text, and a closed pipe is ours.

rich's own ``Console.on_broken_pipe`` ends the program with ``SystemExit(1)`` when the
reader of stdout leaves (``chunkpilot advise ... | head -1``); the CLI took that for user
code calling ``sys.exit`` and exited 2. Raised as ``BrokenPipeError``, the CLI ends as
documented: exit 0, nothing on stderr.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console


class PipeConsole(Console):
    """A ``rich.console.Console`` that lets ``BrokenPipeError`` through."""

    def on_broken_pipe(self) -> None:
        self.quiet = True  # nothing more to write: the reader is gone
        raise BrokenPipeError("the reader of the output went away")


def new_console(**kwargs: Any) -> Console:
    """A console for our own text: no rich markup in our strings (``[ns]`` stays)."""
    kwargs.setdefault("markup", False)
    return PipeConsole(**kwargs)
