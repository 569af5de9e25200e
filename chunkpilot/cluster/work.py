"""Edge: the user's work as dask collections for trials (one number comes back).

The function travels to workers by value; each block's output is reduced on the worker
and the per-block numbers through a tree, so a trial measures the work, not shipping
results to the client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cloudpickle
import numpy as np
from dask.array.overlap import overlap
from dask.base import unpack_collections

from chunkpilot.errors import InvalidArgumentTypeError
from chunkpilot.types import WorkSpec


class ByValue:
    """The user's function, shipped to workers by value (cloudpickle bytes).

    distributed pickles task arguments with plain ``pickle`` first, which sends a function by
    reference (module and name). A function loaded from ``FILE.py`` lives in a module workers
    cannot import, so every trial would fail with ``ModuleNotFoundError``.
    """

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.payload = cloudpickle.dumps(func)
        self.func: Callable[[Any], Any] | None = func

    def __getstate__(self) -> dict[str, Any]:
        return {"payload": self.payload}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.payload, self.func = state["payload"], None

    def __dask_tokenize__(self) -> Any:
        return self.payload

    def __call__(self, block: Any) -> Any:
        if self.func is None:
            self.func = cloudpickle.loads(self.payload)
        try:
            return self.func(block)
        except Exception:
            raise
        except BaseException as e:  # noqa: B036 - KeyboardInterrupt/SystemExit from user code
            # would kill the worker process (and print its traceback): make it a task error
            raise RuntimeError(f"the function raised {type(e).__name__}: {e}") from None


def _summary(block: np.ndarray, user_func: Callable[[Any], Any] | None, ndim: int) -> np.ndarray:
    """Run the user's function and keep one number per block: no data shipped back."""
    out = block if user_func is None else user_func(block)
    total = float(np.asarray(out, dtype="f8").sum()) if np.size(out) else 0.0
    return np.full((1,) * ndim, total)


def trial_collection(x: Any, func: Callable[[Any], Any] | None, work: WorkSpec) -> Any:
    """The per-block work (fused with the read), its one number per block summed through
    dask's tree reduction, as ``x.map_blocks(func).sum()`` would: the scheduler places the
    blocks of a reduction differently from independent ones (8 blocks of gil_loop on 2
    workers: 5 and 3 under a ``.sum()``, 4 and 4 when gathered as they are, 1.2x the wall
    time), and a trial should see what the work will see."""
    ndim = x.ndim
    func = ByValue(func) if func is not None else None
    if any(work.depth):  # map_overlap(trim=False) as its two steps: overlap() rechunks
        # chunks shorter than the depth, and the summaries' grid must be the overlapped one's
        # (dask auto's 5000 under a depth of 7000 declared 8 blocks where 4 came out)
        x = overlap(x, depth=dict(enumerate(work.depth)), boundary="none", allow_rechunk=True)
    summaries = x.map_blocks(_summary, user_func=func, ndim=ndim, dtype="f8",
                             chunks=tuple((1,) * len(c) for c in x.chunks))
    return summaries.sum()


def unpack_pipeline_output(out: Any) -> list[Any]:
    """The dask collections a pipeline returned (array, scalar, or a tuple/dict of them)."""
    colls, _ = unpack_collections(out)
    if not colls:
        raise InvalidArgumentTypeError(
            "Expected the pipeline to return dask collections (a dask array, a dask scalar or "
            f"a tuple of them). Got {type(out).__name__} instead."
        )
    return list(colls)


def pipeline_collections(out: Any) -> list[Any]:
    """The pipeline's outputs, each array reduced to one number per block (no data shipped)."""
    summaries = []
    for c in unpack_pipeline_output(out):
        if getattr(c, "ndim", 0) and hasattr(c, "map_blocks"):
            summaries.append(c.map_blocks(_summary, user_func=None, ndim=c.ndim, dtype="f8",
                                          chunks=tuple((1,) * len(ax) for ax in c.chunks)))
        else:
            summaries.append(c)
    return summaries
