"""Axes a pipeline needs at their full length, found when it fails on a sub-array.

chunkpilot measures a pipeline on sub-arrays of a few chunks per axis. A pipeline that
combines the array with an operand of fixed shape (``x @ w`` with ``w`` of the array's
column count, ``x - climatology`` of its (y, x) shape) builds on the whole array but not
on a sub-array cut along those axes. Rather than refuse, chunkpilot builds it on the full
shape and on the full shape cut along one axis at a time (placeholders, nothing computed):
the axes whose cut fails are measured at their full length in every sub-array, while the
planner still splits them into chunks as it would any other axis.
"""

from __future__ import annotations

from dataclasses import dataclass

from chunkpilot.errors import ProfilingError
from chunkpilot.pipeline.analysis import GROWTH_BASE, Builds
from chunkpilot.pipeline.measure import PipelineSandbox
from chunkpilot.pipeline.subarray import sub_shape
from chunkpilot.types import ArraySpec


@dataclass(frozen=True, slots=True)
class FullAxes:
    """The axes a pipeline needs whole, and what it raised on a sub-array cut along them."""

    axes: tuple[int, ...]
    error: str

    def note(self, spec: ArraySpec) -> str:
        """The plan's sentence about it."""
        names = ", ".join(str(a) for a in self.axes)
        lengths = " x ".join(str(spec.shape[a]) for a in self.axes)
        return (f"The pipeline needs axis {names} at its full length ({lengths}): on a "
                f"sub-array cut along it, it raised {self.error}. So every sample spans that "
                "axis whole; its chunks along it are still planned.")


def probe_builds(spec: ArraySpec, chunk: tuple[int, ...]) -> Builds:
    """The full shape, then the full shape cut along each axis longer than 1 in turn, to
    ``GROWTH_BASE`` chunks or half its length, the shorter (all at ``chunk``): a sample of
    any chunk size may cut any such axis.

    >>> probe_builds(ArraySpec((1024, 96), "float64"), (128, 32))
    [((1024, 96), (128, 32)), ((384, 96), (128, 32)), ((1024, 48), (128, 32))]
    """
    cuts = [tuple(min(cut, n // 2) if j == i else n for j, n in enumerate(spec.shape))
            for i, cut in enumerate(sub_shape(spec.shape, chunk, GROWTH_BASE))
            if spec.shape[i] > 1]
    return [(spec.shape, chunk)] + [(c, chunk) for c in cuts]


def find_full_axes(box: PipelineSandbox, spec: ArraySpec, chunk: tuple[int, ...],
                   failure: ProfilingError) -> FullAxes:
    """The axes along which a cut breaks the pipeline's build; re-raise ``failure`` when
    the full shape fails too, or no single cut explains it (one sandbox job)."""
    builds = probe_builds(spec, chunk)
    errors = box.build_errors(builds)
    if errors[0] is not None:
        raise failure
    cut_axes = [next(i for i, (s, n) in enumerate(zip(shape, spec.shape, strict=True)) if s < n)
                for shape, _ in builds[1:]]
    failed = [(axis, e) for axis, e in zip(cut_axes, errors[1:], strict=True) if e is not None]
    if not failed:
        raise failure
    return FullAxes(tuple(a for a, _ in failed), failed[0][1])
