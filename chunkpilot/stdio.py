"""Edge: the CLI's stdout carries only its result; any encoding prints without crashing.

What a user's function prints (at import, in the profiling sandbox, in LocalCluster workers,
from C code) must not land in front of ``--json`` output. :func:`result_only_stdout` points
file descriptor 1 at stderr, so every child process and every C-level write goes there, and
gives ``sys.stdout`` a private duplicate of the real stdout for the result alone. Both
streams replace characters their encoding lacks (``PYTHONIOENCODING=ascii``) instead of
raising ``UnicodeEncodeError``.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import sys
from collections.abc import Iterator
from typing import Any


def _fd(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


#: ASCII stand-ins for the characters chunkpilot prints, on a terminal whose encoding
#: lacks them (``LC_ALL=C``): "±21%" printed as "?21%" lost its meaning (hunt 18).
STAND_INS = {"\u00b1": "+/-", "\u00b2": "^2", "\u00d7": "x", "\u2022": "*", "\u2014": "-",
             "\u2013": "-", "\u2026": "...", "\u2248": "~", "\u2264": "<=", "\u2265": ">=",
             "\u2192": "->", "\u00f7": "/", "\u2212": "-"}
#: The codec error handler that writes :data:`STAND_INS` (``?`` for anything else).
STAND_IN_ERRORS = "chunkpilot-stand-in"


def _stand_in(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeEncodeError):
        raise err
    bad = err.object[err.start:err.end]
    return "".join(STAND_INS.get(c, "?") for c in bad), err.end


codecs.register_error(STAND_IN_ERRORS, _stand_in)


def tolerant(stream: Any, errors: str = STAND_IN_ERRORS) -> None:
    """Make a real console stream write stand-ins for unencodable characters (``+/-`` for
    ``±``, else ``?``) instead of raising."""
    if stream is not None and stream in (sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
            stream.reconfigure(errors=errors)


#: Modules that only relay a write (formatting, encoding): the writer is their caller.
RELAYS = ("click", "rich", "json", "io", "_io", "codecs", "contextlib", "functools", "pprint",
          "textwrap", "chunkpilot.stdio", "")


#: chunkpilot's own source files (``python -m chunkpilot.cli`` runs as ``__main__``).
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _from_chunkpilot(frame: Any) -> bool:
    """Whether the nearest caller that is not a relay is chunkpilot's own code."""
    while frame is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if not (name in RELAYS or name.startswith(tuple(r + "." for r in RELAYS))):
            return str(frame.f_code.co_filename).startswith(PACKAGE_DIR)
        frame = frame.f_back
    return False


class ResultRouter(io.TextIOBase):
    """``sys.stdout`` while the CLI runs: chunkpilot's own writes (its result) go to the real
    stdout, anything else (a user's ``print`` at import, in ``map_blocks``' meta inference or
    in a pipeline function) to stderr."""

    def __init__(self, result: Any, other: Any) -> None:
        super().__init__()
        self._result, self._other = result, other

    def _target(self) -> Any:
        return self._result if _from_chunkpilot(sys._getframe(2)) else self._other

    def write(self, s: str) -> int:  # type: ignore[override]
        return int(self._target().write(s) or 0)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        for stream in (self._result, self._other):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()

    def isatty(self) -> bool:  # how the result will be seen (colour, width)
        return bool(self._result.isatty())

    def fileno(self) -> int:  # raw writes by descriptor are not the result
        return int(self._other.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(self._result.encoding)

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._result.errors


def discard_result() -> None:
    """The reader of our stdout went away (``| head``): send what is left to /dev/null, so
    flushing at exit does not raise BrokenPipeError again."""
    out = sys.stdout
    target = out._result if isinstance(out, ResultRouter) else out
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), target.fileno())


@contextlib.contextmanager
def result_only_stdout(*, keep: bool = True) -> Iterator[None]:
    """Inside: fd 1 is stderr (child processes, C code), ``sys.stdout`` a
    :class:`ResultRouter` over a private duplicate of the real stdout and stderr.

    With ``keep`` (the ``chunkpilot`` process) it stays in place afterwards, so ``atexit``
    prints of user code cannot trail the result; otherwise fd 1 and ``sys.stdout`` are put
    back. A no-op for in-process callers that replaced ``sys.stdout`` (pytest's capsys,
    notebooks): their stream is theirs.
    """
    tolerant(sys.stderr, "backslashreplace")
    out = sys.stdout
    if out is None or out is not sys.__stdout__ or _fd(out) != 1 or _fd(sys.stderr) != 2:
        tolerant(out)
        yield
        return
    out.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    real = open(saved, "w", encoding=out.encoding or "utf-8", errors=STAND_IN_ERRORS,  # noqa: SIM115
                buffering=1, closefd=True)
    sys.stdout = ResultRouter(real, sys.stderr)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            real.flush()
        if not keep:
            os.dup2(saved, 1)
            sys.stdout = out
