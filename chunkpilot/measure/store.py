"""Probe an object store from where the tasks will run: latency, throughput, concurrency.

Reads a handful of the array's own storage objects (zarr chunks or shards, HDF5 chunk byte
ranges; :mod:`chunkpilot.measure.store_objects` picks them), with bounded total bytes
(``PROBE_MAX_BYTES``):

1. time to first byte: the lower quartile of ``LATENCY_REQUESTS`` tiny range requests, one at
   a time (a busy machine only ever adds time);
2. transfer rate of one stream: objects (up to ``STREAM_READ_BYTES``) one at a time, latency
   subtracted; and the round trips of a whole-object read, as zarr makes it (each object
   read whole right after its ranged read: a timed pair);
3. concurrency: 4 and 16 tiny requests at once against the fastest one alone of step 1 (how
   many overlap; the fastest of a few tries), and as many range reads at once (aggregate
   transfer rate);
4. decoding (zarr): the fetched objects decoded through the array's own codecs, in memory.

On a cluster the probe runs on a worker (``client.submit``), so the workers' network is what
gets measured; with the threaded scheduler or a LocalCluster (same machine) it runs here.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chunkpilot.cluster.connect import connect, is_address
from chunkpilot.cluster.hosts import LOOPBACK, host_of, this_ip
from chunkpilot.core.store import ConcurrencyPoint, StoreModel
from chunkpilot.measure.store_objects import (
    Piece,
    decode_seconds_per_byte,
    hdf5_pieces,
    timed,
    zarr_pieces,
)
from chunkpilot.sources.remote import filesystem, parse_url, remote_errors
from chunkpilot.sources.storage_options import StorageOptions
from chunkpilot.types import Resources

MiB = 2**20
#: Tiny sequential requests for the latency (lower quartile).
LATENCY_REQUESTS = 9
#: Bytes of a "tiny" request: the time is all latency.
TINY_BYTES = 64
#: Whole objects read one at a time for the stream rate; each read is capped at this.
STREAM_READS = 4
STREAM_READ_BYTES = 2 * MiB
#: (ranged, whole) read pairs timed to count the round trips of a whole-object read (the
#: stream's objects read whole make some or all of them).
TRIP_PAIRS = 4
#: A second round trip must add at least this to count (a local server answers in about a
#: millisecond, and scheduling noise on a busy machine is of that order).
TRIP_FLOOR_S = 0.003
#: Concurrency levels, repeats per level, and bytes of each concurrent range read. One request
#: alone is the latency phase's fastest (a level of 1 timed it again, 5 times, and its range
#: read was never used: 0.2 s of s3_read's 3.5 s probe); three tries of each level: the
#: fastest of five was within the others' spread at 16 (142-208 ms against a 20 ms proxy).
CONCURRENCY_LEVELS = (4, 16)
CONCURRENCY_REPEATS = 3
CONCURRENT_READ_BYTES = 256 * 1024
#: Upper bound on everything the probe reads (stream, round trips, concurrency): 37 MiB.
PROBE_MAX_BYTES = (2 * STREAM_READS + 2 * TRIP_PAIRS) * STREAM_READ_BYTES + \
    sum(CONCURRENCY_LEVELS) * CONCURRENT_READ_BYTES
#: Transfer hidden in latency noise: take it as at most this share of the read time (the
#: stream rate is then a lower bound, and said so).
MIN_TRANSFER_SHARE = 0.05
#: Stream rate taken when the objects are too small for their transfer to show (it then
#: hardly matters: every request of this store is small). MODELLED, and said so.
ASSUMED_STREAM_BYTES_PER_SECOND = 100 * MiB
#: How long a probe on a worker may take.
PROBE_TIMEOUT_S = 120.0


def _cat(fs: Any, p: Piece, nbytes: int) -> Callable[[], bytes]:
    return lambda: fs.cat_file(p.path, start=p.start, end=p.start + max(1, min(nbytes, p.size)))


def _together(pool: ThreadPoolExecutor, calls: list[Callable[[], Any]]) -> float:
    """Wall time of ``calls`` run all at once."""
    t0 = time.perf_counter()
    for f in [pool.submit(c) for c in calls]:
        f.result()
    return time.perf_counter() - t0


@dataclass(frozen=True, slots=True)
class _Stream:  # what one stream showed
    bytes_per_second: float
    lower_bound: bool
    trips: int
    blobs: dict[str, bytes]
    requests: int
    moved: int


def _stream(fs: Any, pieces: list[Piece], latency: float) -> _Stream:
    """One stream: per object, back to back (a burst of load hits both alike), a tiny request
    and the object as one ranged GET; then the round trips of a whole-object read."""
    blobs: dict[str, bytes] = {}
    requests, moved, transfer, pairs = 0, 0, [], []
    for p in pieces[:STREAM_READS]:
        n = min(p.size, STREAM_READ_BYTES)
        tiny_t, range_t = timed(_cat(fs, p, TINY_BYTES)), timed(_cat(fs, p, n))
        transfer.append((n, range_t - tiny_t, range_t))
        requests, moved = requests + 2, moved + n
        if p.key is not None and n == p.size:  # kept to time decoding; read whole, as zarr
            t0 = time.perf_counter()
            blobs[p.key] = fs.cat_file(p.path)
            pairs.append(time.perf_counter() - t0 - range_t)
            requests, moved = requests + 1, moved + n
    whole = [p for p in pieces if p.key is not None and p.size <= STREAM_READ_BYTES]
    trips = 1  # (an extra trip hardly matters next to the transfer of a bigger object)
    if whole:
        smallest = min(whole, key=lambda p: p.size)
        more = max(0, TRIP_PAIRS - len(pairs))
        trips = _round_trips(pairs + _pairs(fs, smallest, more), latency)
        requests, moved = requests + 2 * more, moved + 2 * more * smallest.size
    seen = sum(max(d, 0.0) for _, d, _ in transfer)
    floor = MIN_TRANSFER_SHARE * sum(t for _, _, t in transfer)
    rate = sum(n for n, _, _ in transfer) / max(seen, floor, 1e-6)
    unresolved = seen <= floor
    if unresolved:
        rate = max(rate, ASSUMED_STREAM_BYTES_PER_SECOND)
    return _Stream(rate, unresolved, trips, blobs, requests, moved)


def _pairs(fs: Any, p: Piece, n: int) -> list[float]:
    """``n`` pairs of (one ranged GET of object ``p``, ``p`` whole): whole minus ranged."""
    return [timed(lambda: fs.cat_file(p.path)) - timed(_cat(fs, p, p.size)) for _ in range(n)]


def _round_trips(diffs: list[float], latency: float) -> int:
    """Round trips of a whole-object read, as zarr makes it, from pairs' time differences
    (whole minus one ranged GET of the same object): a second trip shows as a latency more
    in most pairs (load adds time to single reads at random, so the second-smallest
    difference is kept)."""
    diffs = sorted(diffs)
    return 2 if diffs[len(diffs) // 4] > max(0.5 * latency, TRIP_FLOOR_S) else 1


def _concurrency(fs: Any, pieces: list[Piece], pool: ThreadPoolExecutor, one: float
                 ) -> tuple[list[ConcurrencyPoint], int, int]:
    """Tiny requests at once (overlap of waits, against ``one``: the fastest tiny request
    alone) and range reads at once (aggregate rate).

    Each level is timed ``CONCURRENCY_REPEATS`` times and the fastest kept, as one request
    alone is the fastest of several: a burst of load from other processes only ever adds
    time, and would otherwise read as a store that cannot overlap requests.
    """
    points, requests, moved = [], 0, 0
    size = min(CONCURRENT_READ_BYTES, min(p.size for p in pieces))
    for n in CONCURRENCY_LEVELS:
        tiny = [_cat(fs, pieces[(i + r) % len(pieces)], TINY_BYTES)
                for r in range(CONCURRENCY_REPEATS) for i in range(n)]
        wall = min(_together(pool, tiny[r * n:(r + 1) * n]) for r in range(CONCURRENCY_REPEATS))
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
            pieces, z = zarr_pieces(ref, fs, pool)
        else:
            pieces = hdf5_pieces(ref, fs)
        pieces.sort(key=lambda p: -p.size)
        _cat(fs, pieces[0], TINY_BYTES)()  # warm-up: connection, credentials
        waits = sorted(timed(_cat(fs, pieces[i % len(pieces)], TINY_BYTES))
                       for i in range(LATENCY_REQUESTS))
        latency = waits[len(waits) // 4]  # lower quartile: load on this machine only adds
        stream = _stream(fs, pieces, latency)
        points, requests, moved = _concurrency(fs, pieces, pool, waits[0])
        decode = decode_seconds_per_byte(z, pieces, stream.blobs) if z is not None else 0.0
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
    or of the scheduler at an address; this process for threads, a LocalCluster, or workers
    on this machine (the same network; a worker would first import the store's readers:
    s3_read's first probe on a LocalCluster's worker took 3.8 s, 2.2 s here)."""
    if client is None and is_address(res.scheduler):
        if host_of(res.scheduler) in LOOPBACK:  # its workers can only be on this machine
            return _here(ref)
        with connect(res.scheduler) as c:
            return _probe_where_workers_are(ref, c)
    return measure_store(ref) if client is None else _probe_where_workers_are(ref, client)


def _probe_where_workers_are(ref: Mapping[str, Any], client: Any) -> StoreModel:
    workers = client.scheduler_info().get("workers", {})
    if workers and {host_of(w) for w in workers} <= LOOPBACK | {this_ip()}:
        return _here(ref)
    return probe_store(ref, client)


def _here(ref: Mapping[str, Any]) -> StoreModel:
    return dataclasses.replace(measure_store(ref), where="this process, the workers' machine")
