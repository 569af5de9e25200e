"""Preload module: ``dask scheduler --preload chunkpilot.plugin`` watches every computation.

Adds :class:`chunkpilot.cluster.plugin.ClusterWatch` to the scheduler; the results appear at
``/chunkpilot`` on its dashboard and in ``chunkpilot watch ADDRESS``.
"""

from __future__ import annotations

import logging
from typing import Any

from distributed import Scheduler

from chunkpilot.cluster.plugin import ClusterWatch

__all__ = ["dask_setup"]

logger = logging.getLogger(__name__)


def dask_setup(server: Any) -> None:
    """Called by ``dask scheduler --preload``: add the watch (once) to the scheduler."""
    if not isinstance(server, Scheduler):
        logger.warning("chunkpilot.plugin watches computations from the scheduler: preload it "
                       "with `dask scheduler --preload chunkpilot.plugin`. Got a %s; ignored.",
                       type(server).__name__)
        return
    server.add_plugin(ClusterWatch(), idempotent=True)
