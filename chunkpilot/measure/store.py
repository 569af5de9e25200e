"""Probe an object store from where the tasks will run: latency, throughput, concurrency.

Reads a handful of the array's own storage objects (zarr chunks or shards, HDF5 chunk byte
ranges), with bounded total bytes (``PROBE_MAX_BYTES``):

1. time to first byte: the median of ``LATENCY_REQUESTS`` tiny range requests, one at a time;
2. transfer rate of one stream: whole objects (or ``STREAM_READ_BYTES`` ranges) one at a time,
   latency subtracted;
3. concurrency: 1, 4 and 16 tiny requests at once (how many overlap; the fastest of a few
   tries), and as many range reads at once (aggregate transfer rate);
4. decoding (zarr): the fetched objects decoded through the array's own codecs, in memory.

On a cluster the probe runs on a worker (``client.submit``), so the workers' network is what
gets measured; with the threaded scheduler or a LocalCluster (same machine) it runs here.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from chunkpilot.cluster.connect import connect, is_address
from chunkpilot.core.store import ConcurrencyPoint, StoreModel
from chunkpilot.sources.readers import open_remote_zarr_array, remote_hdf5_dataset
from chunkpilot.sources.remote import filesystem, fs_path, parse_url, remote_errors
from chunkpilot.sources.storage_options import StorageOptions
from chunkpilot.types import Resources

MiB = 2**20
#: Storage objects looked at (spread over the array).
PROBE_OBJECTS = 8
#: Tiny sequential requests for the latency (median).
LATENCY_REQUESTS = 9
#: Bytes of a "tiny" request: the time is all latency.
TINY_BYTES = 64
#: Whole objects read one at a time for the stream rate; each read is capped at this.
STREAM_READS = 4
STREAM_READ_BYTES = 4 * MiB
#: Concurrency levels, repeats per level, and bytes of each concurrent range read.
CONCURRENCY_LEVELS = (1, 4, 16)
CONCURRENCY_REPEATS = 4
CONCURRENT_READ_BYTES = 256 * 1024
#: Upper bound on everything the probe reads.
PROBE_MAX_BYTES = 32 * MiB
#: Transfer hidden in latency noise: take it as at most this share of the read time (the
#: stream rate is then a lower bound, and said so).
MIN_TRANSFER_SHARE = 0.05
#: Stream rate taken when the objects are too small for their transfer to show above the
#: latency (it then hardly matters: every request of this store is small). MODELLED, said so.
ASSUMED_STREAM_BYTES_PER_SECOND = 100 * MiB
#: How long a probe on a worker may take.
PROBE_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Piece:
    """One storage object (or byte range of a file) to read."""

    path: str
    start: int
    size: int
    decoded_bytes: int
    key: str | None = None  # zarr: the store key, to decode it in memory


def _spread(grid: tuple[int, ...], n: int) -> list[tuple[int, ...]]:
    total = math.prod(grid)
    flat = sorted({int(i) for i in np.linspace(0, total - 1, min(n, total))})
    return [tuple(int(c) for c in np.unravel_index(i, grid)) for i in flat]


def _zarr_pieces(ref: Mapping[str, Any], fs: Any, pool: ThreadPoolExecutor
                 ) -> tuple[list[Piece], Any]:
    z = open_remote_zarr_array(ref)
    unit = tuple(z.shards or z.chunks)
    grid = tuple(math.ceil(s / u) for s, u in zip(z.shape, unit))
    root = "/".join(p.strip("/") for p in (z.store.path, z.path) if p and p.strip("/"))
    if ref["url"].startswith(("http://", "https://")) and not root.startswith("http"):
        root = fs_path(parse_url(ref["url"]))
    keys = [z.metadata.encode_chunk_key(c) for c in _spread(grid, PROBE_OBJECTS)]
    paths = [f"{root}/{k}" for k in keys]
    decoded = math.prod(unit) * z.dtype.itemsize

    def size(p: str) -> int | None:
        try:
            return int(fs.size(p))
        except FileNotFoundError:  # never written: reads as fill value, costs no transfer
            return None

    sizes = list(pool.map(size, paths))
    pieces = [Piece(p, 0, s, decoded, k) for p, k, s in zip(paths, keys, sizes) if s]
    if not pieces:  # an empty array: its metadata document is the only object to time
        meta = "zarr.json" if z.metadata.zarr_format == 3 else ".zarray"
        pieces = [Piece(f"{root}/{meta}", 0, int(fs.size(f"{root}/{meta}")), 0)]
    return pieces, z


def _hdf5_pieces(ref: Mapping[str, Any], fs: Any) -> list[Piece]:
    d = remote_hdf5_dataset(ref)
    path, item = fs_path(parse_url(ref["url"])), d.dtype.itemsize
    if d.chunks is None:
        start, size = d.id.get_offset() or 0, d.id.get_storage_size()
        step = min(STREAM_READ_BYTES, max(size, 1))
        return [Piece(path, start + o, min(step, size - o), min(step, size - o))
                for o in range(0, max(size, 1), step)][:PROBE_OBJECTS]
    n = d.id.get_num_chunks()
    decoded = math.prod(d.chunks) * item
    picks = sorted({int(i) for i in np.linspace(0, n - 1, min(PROBE_OBJECTS, n))})
    infos = [d.id.get_chunk_info(i) for i in picks]
    return [Piece(path, int(i.byte_offset), int(i.size), decoded) for i in infos if i.size]


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _cat(fs: Any, p: Piece, nbytes: int) -> Callable[[], bytes]:
    return lambda: fs.cat_file(p.path, start=p.start, end=p.start + max(1, min(nbytes, p.size)))


def _together(pool: ThreadPoolExecutor, calls: list[Callable[[], Any]]) -> float:
    """Wall time of ``calls`` run all at once."""
    t0 = time.perf_counter()
    for f in [pool.submit(c) for c in calls]:
        f.result()
    return time.perf_counter() - t0


def _decode_seconds_per_byte(z: Any, pieces: list[Piece], blobs: dict[str, bytes]) -> float:
    """Decode the fetched objects through the array's codecs, in memory (no network)."""
    if not blobs:
        return 0.0
    import zarr
    from zarr.core.buffer import cpu
    from zarr.storage import MemoryStore

    sync_meta = z.metadata.to_buffer_dict(cpu.buffer_prototype)
    prefix = f"{z.path}/" if z.path else ""
    store = {prefix + k: v for k, v in sync_meta.items()}
    store.update({prefix + k: cpu.Buffer.from_bytes(b) for k, b in blobs.items()})
    mem = zarr.open_array(MemoryStore(store, read_only=True), path=z.path or "", mode="r")
    unit = tuple(z.shards or z.chunks)
    grid = tuple(math.ceil(s / u) for s, u in zip(z.shape, unit))

    def region(coords: tuple[int, ...]) -> tuple[slice, ...]:
        return tuple(slice(c * u, min(s, (c + 1) * u)) for c, u, s in zip(coords, unit, z.shape))

    def median_read(r: tuple[slice, ...]) -> float:
        mem[r]  # the first read pays imports and caches
        return statistics.median(_timed(lambda: mem[r]) for _ in range(3))

    coords = _spread(grid, PROBE_OBJECTS)
    fetched = [c for c in coords if z.metadata.encode_chunk_key(c) in blobs]
    absent = next((c for c in np.ndindex(*grid)
                   if z.metadata.encode_chunk_key(c) not in blobs), None)
    if not fetched:
        return 0.0
    # a read of an absent object (fill value) costs zarr's per-call work but no decoding
    base = median_read(region(absent)) if absent is not None else 0.0
    per_byte = []
    for c in fetched:
        r = region(c)
        nbytes = math.prod(x.stop - x.start for x in r) * z.dtype.itemsize
        per_byte.append(max(0.0, median_read(r) - base) / nbytes)
    return statistics.median(per_byte)


@dataclass(frozen=True, slots=True)
class _Stream:
    bytes_per_second: float
    lower_bound: bool
    trips: int
    blobs: dict[str, bytes]
    requests: int
    moved: int


def _stream(fs: Any, pieces: list[Piece], latency: float) -> _Stream:
    """One stream: per object, back to back (a burst of machine load hits all three alike), a
    tiny request, the object as one ranged GET, and the object whole as zarr reads it (s3fs
    asks for the size first when ``max_concurrency > 1``: two round trips)."""
    blobs: dict[str, bytes] = {}
    requests, moved, transfer, extra = 0, 0, [], []
    for p in pieces[:STREAM_READS]:
        n = min(p.size, STREAM_READ_BYTES)
        tiny_t, range_t = _timed(_cat(fs, p, TINY_BYTES)), _timed(_cat(fs, p, n))
        transfer.append((n, range_t - tiny_t, range_t))
        requests, moved = requests + 2, moved + n
        if p.key is not None and n == p.size:
            t0 = time.perf_counter()
            blobs[p.key] = fs.cat_file(p.path)
            extra.append(time.perf_counter() - t0 - range_t)
            requests, moved = requests + 1, moved + n
    seen = sum(max(d, 0.0) for _, d, _ in transfer)
    floor = MIN_TRANSFER_SHARE * sum(t for _, _, t in transfer)
    trips = 2 if extra and statistics.median(extra) > 0.5 * latency else 1
    rate = sum(n for n, _, _ in transfer) / max(seen, floor, 1e-6)
    unresolved = seen <= floor
    if unresolved:
        rate = max(rate, ASSUMED_STREAM_BYTES_PER_SECOND)
    return _Stream(rate, unresolved, trips, blobs, requests, moved)


def _concurrency(fs: Any, pieces: list[Piece], pool: ThreadPoolExecutor
                 ) -> tuple[list[ConcurrencyPoint], int, int]:
    """Tiny requests at once (overlap of waits) and range reads at once (aggregate rate).

    Each level is timed ``CONCURRENCY_REPEATS`` times and the fastest kept, for one request
    alone as for many at once: a burst of load from other processes only ever adds time, and
    would otherwise read as a store that cannot overlap requests.
    """
    points, one, requests, moved = [], None, 0, 0
    size = min(CONCURRENT_READ_BYTES, min(p.size for p in pieces))
    for n in CONCURRENCY_LEVELS:
        tiny = [_cat(fs, pieces[(i + r) % len(pieces)], TINY_BYTES)
                for r in range(CONCURRENCY_REPEATS) for i in range(n)]
        wall = min(_together(pool, tiny[r * n:(r + 1) * n]) for r in range(CONCURRENCY_REPEATS))
        one = wall if one is None else one
        reads = _together(pool, [_cat(fs, pieces[i % len(pieces)], size) for i in range(n)])
        requests, moved = requests + n * (CONCURRENCY_REPEATS + 1), moved + n * size
        points.append(ConcurrencyPoint(n, min(float(n), max(1.0, n * one / wall)),
                                       n * size / max(reads - wall, MIN_TRANSFER_SHARE * reads)))
    return points, requests, moved


def measure_store(ref: Mapping[str, Any]) -> StoreModel:
    """Probe the store of a remote reference from this process (see module docstring)."""
    parsed, opts = parse_url(ref["url"]), ref.get("storage_options") or StorageOptions()
    with remote_errors(parsed, opts), ThreadPoolExecutor(max(CONCURRENCY_LEVELS)) as pool:
        fs = filesystem(parsed, opts)
        z = None
        if ref["format"] == "zarr":
            pieces, z = _zarr_pieces(ref, fs, pool)
        else:
            pieces = _hdf5_pieces(ref, fs)
        pieces.sort(key=lambda p: -p.size)
        _cat(fs, pieces[0], TINY_BYTES)()  # warm-up: connection, credentials
        latency = statistics.median(_timed(_cat(fs, pieces[i % len(pieces)], TINY_BYTES))
                                    for i in range(LATENCY_REQUESTS))
        stream = _stream(fs, pieces, latency)
        points, requests, moved = _concurrency(fs, pieces, pool)
        decode = _decode_seconds_per_byte(z, pieces, stream.blobs) if z is not None else 0.0
    chunks = [p for p in pieces if p.decoded_bytes]  # not a metadata document
    stored = sum(p.size for p in chunks) / sum(p.decoded_bytes for p in chunks) if chunks else 1.0
    if z is not None:
        import zarr

        per_task, request_bytes = int(zarr.config.get("async.concurrency") or 10), None
    else:  # h5py reads through one file object, in fsspec blocks
        per_task = 1
        request_bytes = int(getattr(fs, "blocksize", 0) or getattr(fs, "default_block_size", 0)
                            or 5 * MiB)
    return StoreModel(
        latency_seconds=latency, stream_bytes_per_second=stream.bytes_per_second,
        concurrency=tuple(p for p in points if p.requests_in_flight > 1),
        stored_bytes_per_byte=min(max(stored, 1e-3), 10.0),
        decode_seconds_per_byte=decode, requests_per_task=per_task,
        request_bytes=request_bytes, requests_per_object=stream.trips,
        throughput_lower_bound=stream.lower_bound,
        requests_measured=2 + LATENCY_REQUESTS + stream.requests + requests,
        bytes_measured=stream.moved + moved)


def probe_store(ref: Mapping[str, Any], client: Any = None) -> StoreModel:
    """Probe where tasks run: on a worker of ``client`` when given, else in this process."""
    if client is None:
        return measure_store(ref)
    workers = sorted(client.scheduler_info().get("workers", {}))
    future = client.submit(measure_store, dict(ref), pure=False, workers=workers[:1] or None)
    try:
        model = future.result(timeout=PROBE_TIMEOUT_S)
    finally:
        future.release()
    return dataclasses.replace(model, where=f"worker {workers[0]}" if workers else "a worker")


def probe_store_for(ref: Mapping[str, Any], res: Resources, client: Any = None) -> StoreModel:
    """Probe the store of ``ref`` where ``res``'s tasks will run: a worker of the given client
    or of the scheduler at an address; this process for threads or a LocalCluster (the same
    machine and network)."""
    if client is None and is_address(res.scheduler):
        with connect(res.scheduler) as c:
            return probe_store(ref, c)
    return probe_store(ref, client)
