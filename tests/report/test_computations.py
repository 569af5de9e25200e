"""``report.computations``: how the cluster watch names an array's chunks."""

from __future__ import annotations

from chunkpilot.core.computations import ArrayChunks
from chunkpilot.report.computations import format_array


def test_the_bytes_are_called_results_not_blocks():
    """A reduction's first step reads 128 x 128 blocks and returns 4 B each: "4 B each"
    beside the block shape read as the size of the block (hunt 7)."""
    text = format_array(ArrayChunks("sum", (16, 32), (128, 128), 4))
    assert text == "sum: 128 x 128 (16 x 32 chunks), results of 4 B each"
    assert format_array(ArrayChunks("x", (3,))) == "x: 3 chunks"
