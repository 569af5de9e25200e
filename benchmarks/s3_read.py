"""The ``s3_read`` workload: a compressed zarr v3 store on a local S3 server, 20 ms away.

A ready-to-register builder for the benchmark suite (issue 14, item 5):

* :class:`S3ReadStore` starts moto's S3 server and a delaying TCP proxy (``DELAY_S`` per
  request), each in a child process, from ``tests/helpers``; writes a compressed (zstd) zarr
  v3 array of smooth float32 data locally and uploads it. It exposes ``url``, ``storage_options``
  (through the proxy), ``storage_chunks``, ``open(chunks)`` (a dask array read by the
  workers) and stops everything on exit (no port left open).
* :func:`per_block` is the per-block function given to chunkpilot; :func:`build` the dask
  computation (map_blocks + sum: a small result).

``python -m benchmarks.s3_read [--quick] [--rounds N]`` runs the standalone comparison:
advise vs the storage chunks (``from_zarr`` default) vs dask auto, on a LocalCluster of
2 workers x 1 thread, measured in interleaved rounds, and prints the numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import make_store

TESTS = Path(__file__).resolve().parent.parent / "tests"
#: Latency the proxy adds to every request.
DELAY_S = 0.02


@dataclass(frozen=True)
class S3ReadSize:
    """Array shape and storage chunks for one mode."""

    shape: tuple[int, ...]
    storage: tuple[int, ...]


#: Small storage objects (64 KiB raw, ~30 KiB zstd): the "2 MiB objects on S3" problem, scaled
#: to what a moto server on a shared 2-core machine serves in seconds.
FULL = S3ReadSize((2048, 2048), (128, 128))
QUICK = S3ReadSize((1024, 1024), (128, 128))
DTYPE = "float32"


def per_block(block: np.ndarray) -> np.ndarray:
    """Per-block work after the read: log of the positive part, in float64."""
    b = block.astype(np.float64)
    return np.where(b > 0.5, np.log1p(np.abs(b)), 0.0)


def build(x: Any) -> Any:
    """The dask computation: the per-block work, then a full sum (a small result)."""
    return x.map_blocks(per_block, dtype="f8").sum()


#: The delaying proxy in a child process of its own: in this process it would share the GIL
#: with the LocalCluster's scheduler, and each task more would add latency to every request.
_PROXY_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
from helpers.delay_proxy import DelayProxy
proxy = DelayProxy(int(sys.argv[2]), float(sys.argv[3])).start()
print(proxy.port, flush=True)
sys.stdin.read()  # EOF: the parent closed the pipe (stop) or died
proxy.stop()
"""


class ProxyProcess:
    """``tests/helpers``' DelayProxy, run in a child process; stopped by closing its stdin."""

    def __init__(self, upstream_port: int, latency_s: float) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, "-c", _PROXY_CHILD, str(TESTS), str(upstream_port), str(latency_s)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"delay proxy did not start: {line!r}")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        import subprocess

        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _helpers() -> Any:
    if str(TESTS) not in sys.path:  # tests/helpers: the same servers the test suite uses
        sys.path.insert(0, str(TESTS))
    import helpers.s3server

    return helpers.s3server


class S3ReadStore:
    """moto S3 + a ``delay_s`` proxy + the uploaded store; a context manager.

    >>> with S3ReadStore(quick=True) as s:  # doctest: +SKIP
    ...     plan = chunkpilot.advise(s.url, per_block, storage_options=s.storage_options)
    """

    def __init__(self, quick: bool = False, delay_s: float = DELAY_S,
                 size: S3ReadSize | None = None) -> None:
        self.size = size or (QUICK if quick else FULL)
        self.delay_s = delay_s
        self.server: Any = None
        self.proxy: Any = None
        self.url = ""
        self.storage_options: dict[str, Any] = {}
        self.upload_seconds = 0.0

    @property
    def shape(self) -> tuple[int, ...]:
        return self.size.shape

    @property
    def storage_chunks(self) -> tuple[int, ...]:
        return self.size.storage

    def start(self) -> S3ReadStore:
        s3server = _helpers()
        self.server = s3server.MotoS3Server().start()
        try:
            direct = self.server.storage_options()
            bucket = s3server.create_bucket(direct)
            with tempfile.TemporaryDirectory(prefix="chunkpilot-s3-read-") as tmp:
                local = Path(tmp) / "data.zarr"
                make_store(local, self.shape, DTYPE, self.storage_chunks, compressed=True,
                           kind="smooth")
                t0 = time.perf_counter()
                self.url = s3server.upload(direct, local, f"{bucket}/data.zarr")
                self.upload_seconds = time.perf_counter() - t0
            self.proxy = ProxyProcess(self.server.port, self.delay_s)
            self.storage_options = s3server.storage_options(self.proxy.url)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> S3ReadStore:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def open(self, chunks: Any) -> Any:
        """The store as a dask array with ``chunks`` (the workers read it, through the proxy)."""
        import dask.array as da

        return da.from_zarr(self.url, chunks=chunks, storage_options=self.storage_options)


# --- the standalone comparison ----------------------------------------------------------------


def _time(client: Any, store: S3ReadStore, chunks: Any) -> float:
    t0 = time.perf_counter()
    client.compute(build(store.open(chunks))).result()
    return time.perf_counter() - t0


def grid_shapes(shape: tuple[int, ...], storage: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Storage-aligned shapes from one storage chunk to the whole array, doubling an axis at a
    time (the smaller axis first), for "the best measured shape"."""
    out, c = [tuple(storage)], list(storage)
    while any(ci < n for ci, n in zip(c, shape, strict=True)):
        i = min((i for i in range(len(c)) if c[i] < shape[i]), key=lambda i: (c[i], i))
        c[i] = min(shape[i], 2 * c[i])
        out.append(tuple(c))
    return out


def compare(quick: bool = False, rounds: int = 3, log: Any = print,
            with_grid: bool = False) -> dict[str, Any]:
    """advise vs the storage chunks vs dask auto (and a storage-aligned grid) on a LocalCluster
    2 x 1, measured in interleaved rounds after a warm-up round."""
    import dask.array as da
    from distributed import Client, LocalCluster

    import chunkpilot
    from chunkpilot.sources.remote import close_sessions

    with S3ReadStore(quick) as store, LocalCluster(
            n_workers=2, threads_per_worker=1, memory_limit="1GiB", host="127.0.0.1",
            dashboard_address="127.0.0.1:0", processes=True) as cluster, Client(cluster) as client:
        log(f"store {store.url} {store.shape} {DTYPE}, storage chunks {store.storage_chunks}, "
            f"+{store.delay_s * 1e3:.0f} ms per request (upload {store.upload_seconds:.1f} s)")
        t0 = time.perf_counter()
        plan = chunkpilot.advise(store.url, per_block, storage_options=store.storage_options,
                                 client=client)
        advise_s = time.perf_counter() - t0
        auto = tuple(max(c) for c in da.from_zarr(store.url, chunks="auto",
                                                  storage_options=store.storage_options).chunks)
        shapes = {"storage chunks": store.storage_chunks, "dask auto": auto,
                  "advise": plan.chunk_shape}
        if with_grid:
            shapes.update({f"grid {g}": g for g in grid_shapes(store.shape, store.storage_chunks)})
        log(f"advise took {advise_s:.1f} s and chose {plan.chunk_shape}")
        for line in plan.explain().splitlines():
            log("  " + line)
        unique = dict.fromkeys(shapes.values())
        for c in unique:  # warm-up round: workers import, open the store, connect
            _time(client, store, c)
        walls: dict[tuple[int, ...], list[float]] = {c: [] for c in unique}
        for _ in range(rounds):
            for c in unique:
                walls[c].append(_time(client, store, c))
    close_sessions()
    best = min(statistics.median(w) for w in walls.values())
    out = {"advise_seconds": advise_s, "predicted_wall_seconds": plan.chosen.wall_seconds,
           "shapes": {}}
    for name, c in shapes.items():
        med = statistics.median(walls[c])
        out["shapes"][name] = {"chunks": list(c), "median_seconds": med,
                               "runs": walls[c], "vs_best": med / best}
        log(f"{name:15s} {str(c):14s} median {med:6.2f} s  ({med / best:.2f} x best)  "
            f"runs {[round(w, 2) for w in walls[c]]}")
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.s3_read", description=__doc__)
    p.add_argument("--quick", action="store_true", help="the smaller array")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds after a warm-up")
    p.add_argument("--grid", action="store_true", help="also time storage-aligned grid shapes")
    p.add_argument("--json", type=Path, default=None, help="write the numbers here")
    a = p.parse_args(argv)
    out = compare(a.quick, a.rounds, with_grid=a.grid)
    if a.json is not None:
        import json

        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
