"""Regenerate the saved real-cluster observations here: ``python make_observations.py``."""

from __future__ import annotations

import pathlib
import time

HERE = pathlib.Path(__file__).parent


def _busy(block):  # ~0.3 s of work per chunk: the size dask recommends
    time.sleep(0.3)
    return block + 1


def _heavy(block):  # three chunk-sized temporaries alive at once
    a = block + 1
    b = a * 2
    c = b - block
    time.sleep(0.2)
    return c.sum(keepdims=True)


def main() -> None:
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    from chunkpilot.cluster.observe import observe
    from chunkpilot.report.records import save_observation

    kw = dict(threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0")
    with LocalCluster(n_workers=2, memory_limit="1GiB", **kw) as cluster, Client(cluster) as c:
        x = da.ones((300 * 100,), chunks=100)
        _, obs = observe(c, lambda: (x + 1).sum().compute(), timeout_s=120)
        save_observation(obs, HERE / "obs_too_small.json")
        y = da.ones((2000, 2000), chunks=500).map_blocks(_busy)
        _, obs = observe(c, lambda: y.sum().compute(), timeout_s=120)
        save_observation(obs, HERE / "obs_healthy.json")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), LocalCluster(
        n_workers=1, memory_limit="400MiB", **kw
    ) as cluster, Client(cluster) as c:
        n = 200 * 2**20 // 8
        z = da.ones((4 * n,), chunks=n).map_blocks(_heavy, chunks=(1,))
        _, obs = observe(c, lambda: z.sum().compute(), timeout_s=120)
        save_observation(obs, HERE / "obs_too_big_killed.json")


if __name__ == "__main__":
    main()
