"""Axes a pipeline needs whole, found when it fails to build: at their full length in
every sample, or in one chunk.

chunkpilot measures a pipeline on sub-arrays of a few chunks per axis, after building it
at a chunking split along every axis. Two kinds of pipeline fail there and run fine as
the user runs them:

* one that combines the array with an operand of fixed shape (``x @ w`` with ``w`` of the
  array's column count, ``x - climatology`` of its (y, x) shape) builds on the whole array
  but not on a sub-array cut along those axes: those axes span the whole array in every
  sub-array and graph (``full_axes``), while the planner still splits them into chunks;
* one that needs an axis in one chunk (``da.apply_gufunc`` over a core dimension, a
  function that refuses a chunked axis) fails at any chunking that splits it: that axis is
  kept whole in the chunks (``keep_whole``), as the user would have had to say.

Both are found by building on placeholders (nothing computed, one sandbox job each): the
full shape, then the full shape cut along one axis at a time; or, when the full shape
fails, the full shape with one axis in one chunk at a time. The plan says which and why;
when no single axis explains the failure, the original error stands.
"""

from __future__ import annotations

from dataclasses import dataclass

from chunkpilot.errors import ProfilingError
from chunkpilot.pipeline.analysis import GROWTH_BASE, Builds
from chunkpilot.pipeline.measure import PipelineSandbox
from chunkpilot.pipeline.subarray import sub_shape
from chunkpilot.types import ArraySpec


@dataclass(frozen=True, slots=True)
class AxisNeed:
    """Axes a pipeline needs whole (``full_length``: in every sample; otherwise in its
    chunks), and what it raised without."""

    axes: tuple[int, ...]
    full_length: bool
    error: str

    def note(self, spec: ArraySpec) -> str:
        """The plan's sentence about it."""
        names, error = ", ".join(str(a) for a in self.axes), self.error.rstrip(".")
        lengths = " x ".join(str(spec.shape[a]) for a in self.axes)
        if self.full_length:
            return (f"The pipeline needs axis {names} at its full length ({lengths}): on a "
                    f"sub-array cut along it, it raised {error}. So every sample spans "
                    "that axis whole; its chunks along it are still planned.")
        return (f"The pipeline needs axis {names} in one chunk: split, it raised "
                f"{error}. So chunks keep it whole (as keep_whole=({names},) would).")


def cut_builds(spec: ArraySpec, chunk: tuple[int, ...]) -> Builds:
    """The full shape, then the full shape cut along each axis longer than 1 in turn, to
    ``GROWTH_BASE`` chunks or half its length, the shorter (all at ``chunk``): a sample of
    any chunk size may cut any such axis.

    >>> cut_builds(ArraySpec((1024, 96), "float64"), (128, 32))
    [((1024, 96), (128, 32)), ((384, 96), (128, 32)), ((1024, 48), (128, 32))]
    """
    cuts = [tuple(min(cut, n // 2) if j == i else n for j, n in enumerate(spec.shape))
            for i, cut in enumerate(sub_shape(spec.shape, chunk, GROWTH_BASE))
            if spec.shape[i] > 1]
    return [(spec.shape, chunk)] + [(c, chunk) for c in cuts]


def one_chunk_builds(spec: ArraySpec, chunk: tuple[int, ...]) -> Builds:
    """The full shape at ``chunk`` with one split axis in one chunk, each in turn.

    >>> one_chunk_builds(ArraySpec((1024, 96), "float64"), (128, 96))
    [((1024, 96), (1024, 96))]
    """
    return [(spec.shape, tuple(n if j == i else c
                               for j, (n, c) in enumerate(zip(spec.shape, chunk, strict=True))))
            for i, (n, c) in enumerate(zip(spec.shape, chunk, strict=True)) if c < n]


def _axis(shape: tuple[int, ...], other: tuple[int, ...]) -> int:
    return next(i for i, (a, b) in enumerate(zip(shape, other, strict=True)) if a != b)


def find_axis_need(box: PipelineSandbox, spec: ArraySpec, chunk: tuple[int, ...],
                   failure: ProfilingError) -> AxisNeed:
    """What the pipeline that raised ``failure`` at the analysis chunking ``chunk`` needs
    (module doc); re-raise ``failure`` when no single axis explains it."""
    builds = cut_builds(spec, chunk)
    errors = box.build_errors(builds)
    if errors[0] is None:  # the full shape builds: some cut does not
        failed = [(_axis(shape, spec.shape), e)
                  for (shape, _), e in zip(builds[1:], errors[1:], strict=True) if e]
        if failed:
            return AxisNeed(tuple(a for a, _ in failed), True, failed[0][1])
        raise failure
    whole = one_chunk_builds(spec, chunk)
    fixed = [_axis(c, chunk) for (_, c), e in zip(whole, box.build_errors(whole), strict=True)
             if e is None]
    if not fixed:
        raise failure
    return AxisNeed(tuple(fixed), False, errors[0])
