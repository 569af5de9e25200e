"""An error message as a verdict quotes it: task keys as the dashboard's group names,
whole sentences only (dask's KilledWorker runs to 400 characters with a link)."""

from __future__ import annotations

import re

from dask.utils import key_split

__all__ = ["error_summary"]

#: Quote whole sentences of an error message up to about this many characters (KilledWorker's
#: runs to 400 with a link); the first sentence is always quoted whole.
ERROR_CHARS = 240
#: A task key as distributed prints it: ``('sum-bedf65a1...', 3)`` or ``'finalize-1f2e...'``.
_KEY = re.compile(r"""\(\s*'([^']+)'(?:\s*,\s*-?\d+)*\s*\)|'([^'\s]+-[0-9a-f]{8,})'""")
#: Sentence ends: a full stop, question or exclamation mark followed by space and a capital.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def _group_names(text: str) -> str:
    """Task keys -> their group names, as the dashboard shows them: ``task 'sum' (3)``."""
    def name(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            index = m.group(0)[m.end(1) - m.start(0) + 1:].strip(" ,)")
            return f"'{key_split(m.group(1))}'" + (f" (block {index})" if index else "")
        return f"'{key_split(m.group(2))}'"

    return _KEY.sub(name, text)


def error_summary(error: str | None, limit: int = ERROR_CHARS) -> str:
    """An error message for a verdict: task keys shown as group names, whole sentences only.

    >>> error_summary("KilledWorker: Attempted to run task ('sum-bedf65a1dfe9acf7', 3) on 1 "
    ...               "different workers, but all those workers died while running it.")[:51]
    "KilledWorker: Attempted to run task 'sum' (block 3)"
    """
    text = " ".join(_group_names(error or "no result").split())
    sentences = _SENTENCE_END.split(text)
    kept = sentences[:1]
    for s in sentences[1:]:
        if len(" ".join(kept + [s])) > limit:
            break
        kept.append(s)
    out = " ".join(kept)
    return out if out.endswith((".", "!", "?")) else out + "."
