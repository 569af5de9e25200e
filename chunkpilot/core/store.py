"""Pure: what reading a block from an object store costs, from a measured store model.

A task reading a block from an object store (S3, GCS, HTTP) pays, per request, a time to
first byte (latency), then the transfer, then decoding. Requests in flight together overlap
their waits, up to what the store and the network allow (the measured concurrency curve)::

    read seconds = requests x latency / effective concurrency + bytes / throughput

with the effective concurrency of a task no more than the requests it keeps in flight, shared
with the threads of its process reading at the same time, and at least one latency round per
``requests_per_task`` requests. A task's first request costs its round trips in full (its
thread read nothing ahead while it computed the previous task): the pipeline fill.

The requests one dask chunk makes follow from the storage chunks it touches (zarr reads
each storage chunk with one request, up to ``requests_per_task`` at once; a sharded array
reads whole shards with one request, or the shard index and then each inner chunk).
No I/O here: :mod:`chunkpilot.measure.store` measures the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from chunkpilot.errors import InvalidArgumentError
from chunkpilot.types import ArraySpec, Resources, WorkSpec

#: Above this share of a task's time spent waiting on requests, latency binds (explain, check).
LATENCY_BINDS_FRACTION = 0.5
#: Storage objects should be big enough that waiting is at most this share of a request.
OBJECT_LATENCY_SHARE = 0.2
#: Largest object/shard size check suggests (S3 guidance: 8-16 MB objects; beyond ~128 MiB a
#: shard is slow to rewrite and to read whole).
MAX_SUGGESTED_OBJECT_BYTES = 128 * 2**20


@dataclass(frozen=True, slots=True)
class ConcurrencyPoint:
    """How the store served ``requests_in_flight`` concurrent requests."""

    requests_in_flight: int
    """Concurrent requests (1, 4, 16 in the probe)."""
    effective_concurrency: float
    """How many of them overlapped: n x (time of one alone) / (time of n together)."""
    bytes_per_second: float
    """Aggregate transfer rate of that many concurrent streams (stored bytes)."""


def _interp(points: Sequence[tuple[float, float]], n: float) -> float:
    """Piecewise-linear in log(n) through ``points``, flat beyond both ends."""
    pts = sorted(points)
    if n <= pts[0][0]:
        return pts[0][1]
    for (n0, v0), (n1, v1) in zip(pts, pts[1:], strict=False):
        if n <= n1:
            w = (math.log(n) - math.log(n0)) / (math.log(n1) - math.log(n0)) if n1 > n0 else 1.0
            return v0 + w * (v1 - v0)
    return pts[-1][1]


@dataclass(frozen=True, slots=True)
class StoreModel:
    """Latency, throughput and concurrency of a store, as measured from where tasks run."""

    latency_seconds: float
    """Time to first byte of one small request, alone (lower quartile of several)."""
    stream_bytes_per_second: float
    """Transfer rate of one stream after its first byte (stored bytes per second)."""
    concurrency: tuple[ConcurrencyPoint, ...] = ()
    """The measured concurrency curve (empty: requests do not overlap)."""
    stored_bytes_per_byte: float = 1.0
    """Stored (compressed) bytes per decoded array byte."""
    decode_seconds_per_byte: float = 0.0
    """CPU seconds to decode one array byte (decompression and filters)."""
    requests_per_task: int = 10
    """Requests one task keeps in flight (zarr's ``async.concurrency``; 1 for HDF5)."""
    requests_per_object: int = 1
    """Round trips to read one whole storage object (2 when the client asks for its size
    first, as s3fs does with ``max_concurrency > 1``); ranges of shards take one."""
    throughput_lower_bound: bool = False
    """The objects were too small for their transfer to show above the latency: the stream
    rate is a MODELLED assumption (at least what the probe could bound)."""
    request_bytes: int | None = None
    """Bytes per request when reads are not per storage chunk (fsspec's block size for
    HDF5 files); ``None``: one request per storage chunk (zarr)."""
    where: str = "this process"
    """Where the probe ran (a worker's address on a cluster)."""
    requests_measured: int = 0
    """Requests the probe made."""
    bytes_measured: int = 0
    """Bytes the probe read."""

    def __post_init__(self) -> None:
        for name in ("latency_seconds", "stream_bytes_per_second", "stored_bytes_per_byte",
                     "decode_seconds_per_byte"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise InvalidArgumentError(f"Expected {name} as a finite number >= 0. Got {v!r}.")
        if self.stream_bytes_per_second <= 0 or self.requests_per_task < 1:
            raise InvalidArgumentError(
                f"Expected a positive throughput and requests_per_task >= 1. Got "
                f"{self.stream_bytes_per_second!r} and {self.requests_per_task!r}.")
        object.__setattr__(self, "concurrency", tuple(
            sorted(self.concurrency, key=lambda p: p.requests_in_flight)))

    def effective_concurrency(self, in_flight: float) -> float:
        """Requests that overlap when ``in_flight`` are issued together (1 <= it <= in_flight)."""
        n = max(1.0, float(in_flight))
        pts = [(1.0, 1.0)] + [(float(p.requests_in_flight), p.effective_concurrency)
                              for p in self.concurrency if p.requests_in_flight > 1]
        return min(n, max(1.0, _interp(pts, n)))

    def throughput(self, in_flight: float) -> float:
        """Aggregate stored bytes per second of ``in_flight`` concurrent streams."""
        pts = [(1.0, self.stream_bytes_per_second)] + [
            (float(p.requests_in_flight), p.bytes_per_second)
            for p in self.concurrency if p.requests_in_flight > 1]
        return max(self.stream_bytes_per_second, _interp(pts, max(1.0, float(in_flight))))

    def read_seconds(self, requests: float, nbytes: float, concurrency: float) -> float:
        """requests x latency / effective concurrency + bytes / throughput (stored bytes)."""
        c = max(1.0, min(float(concurrency), float(requests)))
        return (requests * self.latency_seconds / self.effective_concurrency(c)
                + nbytes / self.throughput(c))

    def min_object_bytes(self, latency_share: float = OBJECT_LATENCY_SHARE) -> int:
        """Stored bytes per request for which waiting is at most ``latency_share`` of it."""
        return int(self.latency_seconds * self.stream_bytes_per_second
                   * (1 - latency_share) / latency_share)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["concurrency"] = [asdict(p) for p in self.concurrency]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StoreModel:
        d = dict(d)
        d["concurrency"] = tuple(ConcurrencyPoint(**p) for p in d.get("concurrency", ()))
        return cls(**d)


@dataclass(frozen=True, slots=True)
class BlockRead:
    """What one task's read of its block costs under a :class:`StoreModel` (mean task)."""

    requests: float
    """Requests the task makes."""
    streams: float
    """Independent request streams among them (shards read their inner chunks in turn)."""
    stored_bytes: float
    """Bytes transferred."""
    wait_seconds: float
    """Time waiting for first bytes (latency, after overlap)."""
    transfer_seconds: float
    """Time transferring."""
    decode_seconds: float
    """Time decoding."""

    @property
    def seconds(self) -> float:
        return self.wait_seconds + self.transfer_seconds + self.decode_seconds


def _axis_touch(length: int, chunk: int, depth: int, unit: int) -> tuple[float, float]:
    """(mean units touched by a dask chunk with its halo, share of chunks covering whole units)."""
    touched, whole, n = 0, 0, 0
    for a in range(0, length, chunk):
        lo, hi = max(0, a - depth), min(length, a + chunk + depth)
        first, last = lo // unit, (hi - 1) // unit
        touched += last - first + 1
        whole += lo % unit == 0 and (hi % unit == 0 or hi == length)
        n += 1
    return touched / n, whole / n


def readers_per_process(res: Resources, task_count: int) -> int:
    """Tasks reading the store at once inside one process: a worker's busy threads (all the
    threads of dask's threaded scheduler). They share that process's concurrency, which is
    what the probe measured (one process's event loop and connection pool); other worker
    processes have their own. A limit on the store's side is not modelled."""
    return max(1, min(res.threads_per_worker, math.ceil(task_count / res.workers)))


def block_read(store: StoreModel, spec: ArraySpec, work: WorkSpec, chunk: tuple[int, ...],
               parallel_tasks: int) -> BlockRead:
    """The modelled read of one dask chunk of ``chunk`` (halo included), with
    ``parallel_tasks`` tasks of the same process (:func:`readers_per_process`) reading at the
    same time and sharing the measured concurrency."""
    item, depth = spec.itemsize, work.depth
    if spec.storage_chunks is None:
        decoded = math.prod(min(s, c + 2 * d)
                            for s, c, d in zip(spec.shape, chunk, depth, strict=True)) * item
        stored = decoded * store.stored_bytes_per_byte
        requests = max(1.0, math.ceil(stored / store.request_bytes)) if store.request_bytes else 1.0
        streams = 1.0
    else:
        inner = [_axis_touch(n, c, d, u) for n, c, d, u in
                 zip(spec.shape, chunk, depth, spec.storage_chunks, strict=True)]
        units = math.prod(t for t, _ in inner)
        unit_bytes = math.prod(spec.storage_chunks) * item
        if spec.shards is not None:
            outer = [_axis_touch(n, c, d, s) for n, c, d, s in
                     zip(spec.shape, chunk, depth, spec.shards, strict=True)]
            shards = math.prod(t for t, _ in outer)
            full = math.prod(w for _, w in outer)  # share of tasks reading whole shards
            shard_bytes = math.prod(spec.shards) * item
            requests = shards * full * store.requests_per_object + (shards + units) * (1 - full)
            decoded = shards * shard_bytes * full + units * unit_bytes * (1 - full)
            streams = shards
        else:
            requests, streams = units * store.requests_per_object, units
            decoded = units * unit_bytes
        stored = decoded * store.stored_bytes_per_byte
        if store.request_bytes:  # an HDF5 file through fsspec: reads come in blocks
            requests = min(requests, max(1.0, math.ceil(stored / store.request_bytes) + 1.0))
            streams = 1.0
    per_task = max(1.0, min(streams, float(store.requests_per_task)))
    in_flight = per_task * max(1, parallel_tasks)
    share = max(1, parallel_tasks)
    overlap = min(max(store.effective_concurrency(in_flight) / share, 1e-9), per_task)
    # zarr keeps at most ``requests_per_task`` in flight: a 12th request waits for a free slot,
    # so a task never takes fewer latency rounds than streams / slots
    trips = requests / streams if streams else 1.0  # sequential round trips per stream
    rounds = math.ceil(streams / per_task - 1e-9) * trips
    # pipeline fill: a task's first object costs its round trips in full (the thread read
    # nothing ahead while it computed the previous task); the rest overlap
    filled = trips + max(requests - trips, 0.0) / overlap
    rate = store.throughput(in_flight) / share
    return BlockRead(
        requests=requests, streams=streams, stored_bytes=stored,
        wait_seconds=store.latency_seconds * max(filled, rounds),
        transfer_seconds=stored / max(min(rate, store.throughput(per_task)), 1e-9),
        decode_seconds=decoded * store.decode_seconds_per_byte,
    )
