"""``core.errortext``: errors quoted in verdicts."""

from __future__ import annotations

import pytest

from chunkpilot.core.errortext import error_summary


@pytest.mark.parametrize(
    ("error", "expected"),
    [("KilledWorker: Attempted to run task ('rechunk-merge-1f2e3d4c5b6a7980', 0, 2) on 3 "
      "different workers, but all those workers died while running it.",
      "KilledWorker: Attempted to run task 'rechunk-merge' (block 0, 2) on 3 different "
      "workers, but all those workers died while running it."),
     ("KeyError: 'finalize-0a1b2c3d4e5f60718293'", "KeyError: 'finalize'."),
     ("ValueError: " + "x" * 400, "ValueError: " + "x" * 400 + "."),
     (None, "no result.")],
    ids=["tuple-key", "string-key", "one-long-sentence-stays-whole", "none"],
)
def test_error_summary(error, expected):
    assert error_summary(error) == expected
