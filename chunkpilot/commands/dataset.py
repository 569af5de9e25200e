"""Advise a whole xarray Dataset: plan every data variable, then agree on chunks by dim."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from chunkpilot.cluster.connect import scheduler_client
from chunkpilot.commands.options import AdviseOptions, prepare
from chunkpilot.commands.planning import advise_job, probe_scheduler
from chunkpilot.core.agree import DatasetPlan, agree
from chunkpilot.errors import InvalidArgumentError
from chunkpilot.sources.xarray import data_variables


def _by_name(value: Any, dims: tuple[str, ...], what: str) -> Any:
    """Restrict a by-dim-name ``keep_whole``/``depth`` to the dims one variable has."""
    if value is None or (isinstance(value, int) and what == "depth"):
        return value
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k in dims}
    items = (value,) if isinstance(value, str) else tuple(value)
    return tuple(a for a in items if a in dims)


def _names_only(items: Any, what: str) -> None:
    bad = [a for a in items if not isinstance(a, str)]
    if bad:
        raise InvalidArgumentError(
            f"Expected {what} as dimension names for a Dataset (variables differ in axis order). "
            f"Got {bad!r} instead."
        )


def advise_dataset(ds: Any, opts: AdviseOptions) -> DatasetPlan:
    """Plan every data variable on one cluster, with one probe of its scheduler (1.5-2.5 s
    each; the variables' plans then rest on the same overhead), then agree on one chunk
    length per dimension (rule: :mod:`chunkpilot.core.agree`)."""
    names = data_variables(ds)
    if not names:
        raise InvalidArgumentError(
            f"Expected numeric data variables in the Dataset. Got {list(ds.data_vars)}."
        )
    known = {str(d) for d in ds.dims}
    for what, kw in (("keep_whole", opts.keep_whole), ("depth", opts.depth)):
        if kw is None or (what == "depth" and isinstance(kw, int)):
            continue
        named = list(kw) if isinstance(kw, (dict, tuple, list)) else [kw]
        _names_only(named, what)
        missing = [a for a in named if a not in known]
        if missing:
            raise InvalidArgumentError(
                f"Expected {what} to name dimensions of the Dataset {sorted(known)}. "
                f"Got {missing!r} instead."
            )
    res = opts.resources()
    plans = {}
    cluster = (scheduler_client(res, opts.client) if res.distributed
               else contextlib.nullcontext(opts.client))
    with cluster as c:  # one cluster and one probe of its scheduler for all variables
        probe = probe_scheduler(res, c, opts.probe_overhead)
        for name in names:
            dims = tuple(str(d) for d in ds[name].dims)
            one = dataclasses.replace(opts, variable=name, array=None,
                                      keep_whole=_by_name(opts.keep_whole, dims, "keep_whole"),
                                      depth=_by_name(opts.depth, dims, "depth"))
            plans[name] = advise_job(prepare(ds, one), res, c, probe)
    return agree(plans)
