"""Which storage objects the store probe reads, and what decoding them costs.

A handful of the array's own objects, spread over it: zarr chunk (or shard) objects that
exist, or the byte ranges of HDF5 chunks; their decoding is timed in memory through the
array's own codecs (no network).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from chunkpilot.core.growth import chunk_counts
from chunkpilot.sources.array_readers import open_remote_zarr_array, remote_hdf5_dataset
from chunkpilot.sources.remote import fs_path, parse_url

#: Storage objects looked at (spread over the array).
PROBE_OBJECTS = 8
#: HDF5 contiguous data is read in ranges of at most this.
RANGE_BYTES = 2 * 2**20


@dataclass(frozen=True, slots=True)
class Piece:
    """One storage object (or byte range of a file) to read."""

    path: str
    start: int
    size: int
    decoded_bytes: int  # array bytes it holds (0: a metadata document)
    key: str | None = None  # zarr: the store key, to decode it in memory


def spread(grid: tuple[int, ...], n: int) -> list[tuple[int, ...]]:
    total = math.prod(grid)
    flat = sorted({int(i) for i in np.linspace(0, total - 1, min(n, total))})
    return [tuple(int(c) for c in np.unravel_index(i, grid)) for i in flat]


def zarr_pieces(ref: Mapping[str, Any], fs: Any, pool: ThreadPoolExecutor
                 ) -> tuple[list[Piece], Any]:
    z = open_remote_zarr_array(ref)
    unit = tuple(z.shards or z.chunks)
    grid = chunk_counts(z.shape, unit)
    root = "/".join(p.strip("/") for p in (z.store.path, z.path) if p and p.strip("/"))
    if ref["url"].startswith(("http://", "https://")) and not root.startswith("http"):
        root = fs_path(parse_url(ref["url"]))
    keys = [z.metadata.encode_chunk_key(c) for c in spread(grid, PROBE_OBJECTS)]
    paths = [f"{root}/{k}" for k in keys]
    decoded = math.prod(unit) * z.dtype.itemsize

    def size(p: str) -> int | None:
        try:
            return int(fs.size(p))
        except FileNotFoundError:  # never written: reads as fill value, costs no transfer
            return None

    sizes = list(pool.map(size, paths))
    pieces = [Piece(p, 0, s, decoded, k) for p, k, s in zip(paths, keys, sizes, strict=True) if s]
    if not pieces:  # an empty array: its metadata document is the only object to time
        meta = "zarr.json" if z.metadata.zarr_format == 3 else ".zarray"
        pieces = [Piece(f"{root}/{meta}", 0, int(fs.size(f"{root}/{meta}")), 0)]
    return pieces, z


def hdf5_pieces(ref: Mapping[str, Any], fs: Any) -> list[Piece]:
    d = remote_hdf5_dataset(ref)
    path, item = fs_path(parse_url(ref["url"])), d.dtype.itemsize
    if d.chunks is None:
        start, size = d.id.get_offset() or 0, d.id.get_storage_size()
        step = min(RANGE_BYTES, max(size, 1))
        return [Piece(path, start + o, min(step, size - o), min(step, size - o))
                for o in range(0, max(size, 1), step)][:PROBE_OBJECTS]
    n = d.id.get_num_chunks()
    decoded = math.prod(d.chunks) * item
    picks = sorted({int(i) for i in np.linspace(0, n - 1, min(PROBE_OBJECTS, n))})
    infos = [d.id.get_chunk_info(i) for i in picks]
    return [Piece(path, int(i.byte_offset), int(i.size), decoded) for i in infos if i.size]



def decode_seconds_per_byte(z: Any, pieces: list[Piece], blobs: dict[str, bytes]) -> float:
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
    grid = chunk_counts(z.shape, unit)

    def region(coords: tuple[int, ...]) -> tuple[slice, ...]:
        return tuple(slice(c * u, min(s, (c + 1) * u))
                     for c, u, s in zip(coords, unit, z.shape, strict=True))

    def median_read(r: tuple[slice, ...]) -> float:
        mem[r]  # the first read pays imports and caches
        return statistics.median(timed(lambda: mem[r]) for _ in range(3))

    coords = spread(grid, PROBE_OBJECTS)
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



def timed(fn: Callable[[], Any]) -> float:
    """Seconds ``fn()`` takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
