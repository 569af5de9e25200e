"""What a per-block function returns, as the plan needs to know it."""

from __future__ import annotations

import dask.array as da

import chunkpilot


def test_a_function_that_changes_block_lengths_is_told_map_blocks_needs_chunks():
    """``b[:-1]`` runs, but ``x.map_blocks(f)`` would keep the input's chunks as the output's:
    the plan says to pass ``chunks=`` (found by the out-of-suite hunt: no word before)."""
    x = da.zeros((1024, 1024), chunks=(1024, 1024))
    plan = chunkpilot.advise(x, lambda b: b[:-1], scheduler="threads", memory_limit="1GiB")
    (note,) = [n for n in plan.notes if "other lengths" in n]
    assert "pass chunks=" in note
    same = chunkpilot.advise(x, lambda b: b * 2, scheduler="threads", memory_limit="1GiB")
    assert not any("other lengths" in n for n in same.notes)
