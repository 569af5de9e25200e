"""Nothing lost, nothing left: inputs read-only, temporary files removed, localhost only.

One module-scoped run of advise / tune / check on a zarr store and a netCDF4 file (with a
private temp dir and working directory) feeds the assertions below. Child processes are
checked after every test by ``conftest.no_leaked_processes``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
import zarr

import chunkpilot
from chunkpilot.cluster.connect import local_cluster
from chunkpilot.core.evaluate import evaluate
from chunkpilot.core.model import CostModel, LinearFit
from chunkpilot.core.plan import make_plan
from chunkpilot.sources.describe import describe
from chunkpilot.types import Resources, WorkSpec

pytestmark = pytest.mark.cluster
MiB = 2**20
LOCALHOST = "127.0.0.1"


def _snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """sha256, mtime (ns) and size of every file under ``root`` (or of ``root`` itself)."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root.parent)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                               p.stat().st_mtime_ns, p.stat().st_size)
            for p in files}


def _double(block: np.ndarray) -> np.ndarray:
    return block * 2.0


def _given_plan(path: Path, name: str | None, chunk: tuple[int, ...], res: Resources) -> Any:
    spec, _ = describe(str(path), array=name)
    work = WorkSpec(spec.ndim)
    model = CostModel(LinearFit(1e-3, 5e-9, 1.0), LinearFit(10 * MiB, 2.0, 1.0), 1e-3,
                      baseline_bytes=100 * MiB)
    plan = make_plan(spec, work, res, model)
    return dataclasses.replace(plan, chosen=evaluate(chunk, spec, work, res, model))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """advise + tune + check on both inputs; records snapshots, temp dirs and clusters."""
    import distributed
    import xarray as xr

    root = tmp_path_factory.mktemp("hygiene")
    inputs, tmp, cwd = root / "inputs", root / "tmp", root / "cwd"
    for d in (inputs, tmp, cwd):
        d.mkdir()
    store = inputs / "data.zarr"
    z = zarr.create_array(str(store), shape=(512, 512), chunks=(128, 128), dtype="float64")
    z[:] = np.random.default_rng(0).standard_normal((512, 512))
    nc = inputs / "data.nc"
    xr.Dataset({"t": (("time", "y"), np.random.default_rng(1).standard_normal((256, 256)))}) \
        .to_netcdf(nc, engine="h5netcdf", encoding={"t": {"chunksizes": (64, 64)}})
    before = {"zarr": _snapshot(store), "nc": _snapshot(nc)}

    clusters: list[dict[str, Any]] = []
    original_init = distributed.LocalCluster.__init__

    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        clusters.append({"scheduler": self.scheduler_address, "dashboard": self.dashboard_link,
                         "workers": list(self.scheduler_info.get("workers", {}))})

    res = Resources(1, 1, 1024 * MiB, "local")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(tmp))
        mp.chdir(cwd)
        mp.setattr(distributed.LocalCluster, "__init__", recording_init)
        kw: dict[str, Any] = {"workers": 1, "threads_per_worker": 1, "memory_limit": "1GiB"}
        # tune is given advise's plan: the same sandboxes and cluster code, advised once
        plan = chunkpilot.advise(str(store), _double, scheduler="local", **kw)
        chunkpilot.tune(str(store), _double, max_trials=1, plan=plan, **kw)
        chunkpilot.advise(str(nc), _double, variable="t", scheduler="threads")
        chunkpilot.tune(str(nc), _double, variable="t", max_trials=1,
                        plan=_given_plan(nc, "t", (128, 128), res), **kw)
        chunkpilot.check(str(store), workers=1, memory_limit="1GiB")
        chunkpilot.check(str(nc), workers=1, memory_limit="1GiB")
    after = {"zarr": _snapshot(store), "nc": _snapshot(nc)}
    return {"before": before, "after": after, "tmp": tmp, "cwd": cwd, "clusters": clusters}


@pytest.mark.parametrize("kind", ["zarr", "nc"])
def test_inputs_unchanged_bytes_and_mtimes(run: dict[str, Any], kind: str) -> None:
    assert run["before"][kind], "no files snapshotted"
    assert run["after"][kind] == run["before"][kind]  # same files, hashes, mtimes and sizes


def test_no_temporary_files_left(run: dict[str, Any]) -> None:
    # nothing at all: the clusters' dask-scratch-space lives in a chunkpilot-cluster-* temp
    # dir removed on close (issue 17)
    assert sorted(p.name for p in run["tmp"].iterdir()) == []


def test_nothing_written_to_the_working_directory(run: dict[str, Any]) -> None:
    assert [p.name for p in run["cwd"].iterdir()] == []  # no dask-scratch-space, no reports


def test_clusters_started_by_advise_and_tune_bind_to_localhost(run: dict[str, Any]) -> None:
    assert len(run["clusters"]) >= 2  # advise(scheduler="local") and tune
    for c in run["clusters"]:
        assert c["scheduler"].startswith(f"tcp://{LOCALHOST}:"), c
        assert c["dashboard"].startswith(f"http://{LOCALHOST}:"), c
        assert c["workers"] and all(w.startswith(f"tcp://{LOCALHOST}:") for w in c["workers"]), c


def _listening(pid: int) -> list[str]:
    return [c.laddr.ip for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN]


def test_every_listening_socket_is_on_localhost() -> None:
    """Scheduler, dashboard, nannies (in this process) and workers: no 0.0.0.0, no LAN."""
    me = os.getpid()
    before = set(_listening(me))
    with local_cluster(Resources(2, 1, 512 * MiB, "local")) as client:
        assert client.scheduler.address.startswith(f"tcp://{LOCALHOST}:")
        assert client.dashboard_link.startswith(f"http://{LOCALHOST}:")
        worker_pids = list(client.run(os.getpid).values())
        ips = {me: _listening(me)}
        ips.update({pid: _listening(pid) for pid in worker_pids})
    assert ips[me] and all(ips.values()), ips
    for pid, addrs in ips.items():
        bad = [a for a in addrs if a != LOCALHOST and not (pid == me and a in before)]
        assert not bad, (pid, addrs)
    logging.getLogger(__name__).debug("listening: %s", ips)
