"""The planner's candidate shapes (``core.candidates``)."""

from __future__ import annotations

from chunkpilot.core.candidates import candidate_shapes, smallest_candidate
from chunkpilot.types import ArraySpec, WorkSpec


def test_the_whole_array_is_always_a_candidate():
    """Hunt 16: 400 x 300 float32 in storage chunks of 40 x 30: the whole array's byte
    target gave 320 rows, evened out to 200, so the largest candidate was two chunks and the
    plan said "The whole array fits comfortably in one chunk per task" of them."""
    spec = ArraySpec((400, 300), "float32", storage_chunks=(40, 30))
    shapes = candidate_shapes(spec, WorkSpec(2))
    assert shapes[-1] == (400, 300) and len(shapes) == len(set(shapes))


def test_the_smallest_candidate_names_the_floor_that_set_it():
    """One rule for the smallest candidate's bytes and what set it: the 16 KiB floor, or the
    axes a plan must keep whole (then a plan there is "bound by keep_whole")."""
    spec = ArraySpec((1000, 1000), "float64")
    assert smallest_candidate(spec, WorkSpec(2)) == (16 * 1024, False)
    assert smallest_candidate(spec, WorkSpec(2, keep_whole=(1,))) == (16 * 1024, False)
    wide = ArraySpec((1000, 4000), "float64")  # one whole row: 32,000 bytes
    assert smallest_candidate(wide, WorkSpec(2, keep_whole=(1,))) == (32000, True)
