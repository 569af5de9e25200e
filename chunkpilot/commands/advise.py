"""``chunkpilot.advise``: describe, measure, plan. The imperative shell around the pure core."""

from __future__ import annotations

from typing import Any

from chunkpilot.commands.dataset import advise_dataset
from chunkpilot.commands.options import AdviseOptions, prepare
from chunkpilot.commands.planning import advise_job
from chunkpilot.core.agree import DatasetPlan
from chunkpilot.core.plan import Plan
from chunkpilot.errors import InvalidArgumentError
from chunkpilot.report import notebook  # noqa: F401  (registers Plan._repr_html_)
from chunkpilot.sources.xarray import is_dataset

__all__ = ["advise"]


def advise(source: Any, func: Any = None, **options: Any) -> Plan | DatasetPlan:
    """Measure ``func`` on sample blocks and recommend a chunk shape for ``source``.

    Parameters
    ----------
    source : numpy, dask, zarr or xarray array, xarray Dataset, or a zarr/HDF5/netCDF4 path
        or URL (``s3://``, ``gs://``, ``https://``, ...; with ``storage_options``)
    func : callable, optional
        Per-block function as ``map_blocks`` would call it; default: just load the block.
    **options
        Any field of :class:`chunkpilot.commands.options.AdviseOptions`: ``array`` /
        ``variable``, ``workers``, ``threads_per_worker``, ``memory_limit`` (``"4GiB"``,
        ``"auto"`` or a fraction such as ``0.5``), ``scheduler`` (``"processes"``,
        ``"threads"``, ``"synchronous"``, a Client or an address), ``keep_whole``, ``depth``,
        ``drop_axis``, ``pipeline``, ``profile_timeout_s``, ``probe_overhead``, ``on_sample``,
        ``warn_tasks``, ``max_tasks``, ``seed``, ``storage_options`` (fsspec options for a URL
        source). A Dataset without ``variable`` is planned per data variable and returns a
        :class:`~chunkpilot.core.agree.DatasetPlan`.

    Returns
    -------
    Plan
        ``plan.chunk_shape`` (one length per axis), ``plan.chunks`` (dask's full chunks, for
        ``x.rechunk(plan.chunks)``), ``plan.chunks_by_dim`` (xarray sources) and
        ``plan.explain()`` for the reasons.
    """
    opts = AdviseOptions.from_kwargs(func, options)
    if opts.name is None and is_dataset(source) and opts.pipeline is None:
        if opts.drop_axis:
            raise InvalidArgumentError(
                f"Expected variable=NAME with drop_axis={opts.drop_axis!r}: variables of a "
                "Dataset differ in dims. Got a whole Dataset instead.")
        return advise_dataset(source, opts)
    job = prepare(source, opts)
    res = opts.resources()
    return advise_job(job, res, opts.client)
