"""A pipeline that computes while it is built (``x - x.mean().compute()``, a ``.persist()``):
counted on every build, and refused on a full-size placeholder bigger than
:data:`MAX_PLACEHOLDER_BYTES`, where it would run a pass over the whole array (40 s for a
1.28 TB virtual array, minutes at 10 TB) before anything is planned. The work it runs is
outside the graph chunkpilot measures, so a plan says it is not in the predictions."""

from __future__ import annotations

from typing import Any

from dask.callbacks import Callback

from chunkpilot.units import format_bytes

#: Placeholders up to this size may be computed on while the pipeline is built (zeros: an
#: 80 GB one added ~5 s to a whole advise, so 16 GiB about 1 s), as dask or xarray do
#: themselves in some steps (``where(..., drop=True)``); bigger ones are refused.
MAX_PLACEHOLDER_BYTES = 16 * 2**30


class NotLazyError(Exception):
    """The pipeline returned something other than a lazy result of its input, or computed
    on a full-size placeholder while it was built."""


class ComputeCounter(Callback):
    """Counts the local computes that start while a pipeline is built on a placeholder of
    ``nbytes``; refuses them above :data:`MAX_PLACEHOLDER_BYTES`."""

    def __init__(self, nbytes: int) -> None:
        super().__init__()
        self.count, self.nbytes = 0, nbytes

    def _start(self, dsk: Any) -> None:
        self.count += 1
        if self.nbytes > MAX_PLACEHOLDER_BYTES:
            raise NotLazyError(
                "Expected the pipeline to build its graph without computing. It computes "
                "while it is built (a .compute() or .persist() inside it), which on the whole "
                f"{format_bytes(self.nbytes)} array runs that pass now, before any chunking is "
                "planned (chunkpilot builds it on zero-filled placeholders of that size). Keep "
                "the value lazy (x - x.mean(), not x - x.mean().compute()), or compute it "
                "first and pass it in (functools.partial(pipeline, mean=m)).")

    def note(self) -> str | None:
        """The plan's words for the computes counted (``None`` when there were none)."""
        if not self.count:
            return None
        return (f"ComputeInBuild: the pipeline computed {self.count} time(s) while being built "
                "(a .compute() or .persist() inside it): that work runs before the graph "
                "chunkpilot measures and is not in these predictions")
