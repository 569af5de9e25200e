"""The pure store model (``chunkpilot.core.store``): requests per dask chunk, the read-time
formula, the planner hook, the explanation and check's rule (issue 14, items 2 and 3)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from chunkpilot.core.evaluate import evaluate
from chunkpilot.core.lint import latency_problems
from chunkpilot.core.model import CostModel, LinearFit, Sample
from chunkpilot.core.plan import make_plan
from chunkpilot.core.store import ConcurrencyPoint, StoreModel, block_read, readers_per_process
from chunkpilot.errors import InvalidArgumentError
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20
SPEC = ArraySpec((4096, 4096), "float32", storage_chunks=(128, 128))  # 64 KiB objects
RES = Resources(2, 1, 2**30, "local")


def store(latency_s: float = 0.05, overlap16: float = 16.0, **kw) -> StoreModel:
    points = (ConcurrencyPoint(4, min(4.0, overlap16), 400 * MiB),
              ConcurrencyPoint(16, overlap16, 1600 * MiB))
    return StoreModel(latency_s, 100 * MiB, points, **kw)


def compute_model(s: StoreModel | None) -> CostModel:
    samples = tuple(Sample(b, (1,), 1e-3 * b / MiB, 3 * b) for b in (MiB, 4 * MiB, 16 * MiB))
    return CostModel(LinearFit(0.0, 1e-3 / MiB, 1.0), LinearFit(0.0, 3.0, 1.0), 1e-3,
                     samples=samples, store=s)


def test_read_seconds_is_the_formula():
    s = store(0.05)
    # requests x latency / effective concurrency + bytes / throughput
    assert s.read_seconds(32, 0, 16) == pytest.approx(32 * 0.05 / 16)
    assert s.read_seconds(1, 100 * MiB, 1) == pytest.approx(0.05 + 1.0)
    assert s.read_seconds(4, 0, 16) == pytest.approx(4 * 0.05 / 4)  # no more in flight than asked
    # a task with 12 requests and 10 slots: its first request's round trip in full (nothing
    # was read ahead), the other 11 overlapped 10 at a time; never fewer than two rounds
    r = block_read(s, ArraySpec((384, 512), "float32", storage_chunks=(128, 128)), WorkSpec(2),
                   (384, 512), 1)
    assert r.requests == 12 and r.wait_seconds == pytest.approx((1 + 11 / 10) * 0.05)
    one = block_read(s, ArraySpec((384, 512), "float32", storage_chunks=(128, 128)), WorkSpec(2),
                     (128, 128), 1)
    assert one.requests == 1 and one.wait_seconds == pytest.approx(0.05)
    sat = store(0.05, overlap16=2.0)  # a store that overlaps only 2 of 16
    assert sat.effective_concurrency(16) == pytest.approx(2.0)
    assert sat.effective_concurrency(64) == pytest.approx(2.0)  # flat beyond the last point
    assert 1.0 <= sat.effective_concurrency(8) <= 4.0


@pytest.mark.parametrize(
    ("spec", "chunk", "depth", "requests", "streams"),
    [
        (SPEC, (128, 128), (0, 0), 1, 1),
        (SPEC, (256, 512), (0, 0), 8, 8),
        (SPEC, (192, 128), (0, 0), 43 / 22, 43 / 22),  # misaligned: 2 objects, the last 1
        (SPEC, (128, 128), (8, 8), None, None),  # a halo reaches into the neighbours
        (ArraySpec((4096, 4096), "float32", storage_chunks=(128, 128), shards=(512, 512)),
         (512, 512), (0, 0), 1, 1),  # whole shards: one request each
        (ArraySpec((4096, 4096), "float32", storage_chunks=(128, 128), shards=(512, 512)),
         (256, 256), (0, 0), 1 + 4, 1),  # part of a shard: its index, then 4 inner chunks
    ],
    ids=["one-object", "aligned-8", "misaligned", "halo", "whole-shards", "partial-shard"],
)
def test_block_read_counts_requests(spec, chunk, depth, requests, streams):
    r = block_read(store(), spec, WorkSpec(2, depth=depth), chunk, 1)
    if depth == (0, 0):
        assert r.requests == pytest.approx(requests)
        assert r.streams == pytest.approx(streams)
    else:  # interior chunks touch 3 x 3 objects, edge chunks fewer
        assert 4 < r.requests < 9


def test_round_trips_per_object_and_parallel_tasks_share_the_store():
    two = store(requests_per_object=2)
    assert block_read(two, SPEC, WorkSpec(2), (256, 512), 1).requests == 16
    sat = store(0.05, overlap16=4.0)
    alone = block_read(sat, SPEC, WorkSpec(2), (256, 512), 1)
    shared = block_read(sat, SPEC, WorkSpec(2), (256, 512), 8)  # 8 tasks x 8 in flight
    assert shared.wait_seconds > alone.wait_seconds


def test_store_model_validates_and_round_trips():
    with pytest.raises(InvalidArgumentError, match="latency_seconds"):
        StoreModel(-1.0, 1.0)
    with pytest.raises(InvalidArgumentError, match="positive throughput"):
        StoreModel(0.01, 0.0)
    s = store(requests_per_object=2, where="worker tcp://127.0.0.1:1")
    assert StoreModel.from_dict(s.to_dict()) == s


def test_evaluate_adds_the_modelled_read_only_with_a_store():
    chunk = (256, 512)
    plain = evaluate(chunk, SPEC, WorkSpec(2), RES, compute_model(None))
    remote = evaluate(chunk, SPEC, WorkSpec(2), RES, compute_model(store(0.05)))
    read = block_read(store(0.05), SPEC, WorkSpec(2), chunk, 1).seconds  # 1 thread a worker
    assert remote.seconds_per_task == pytest.approx(plain.seconds_per_task + read)


def test_only_the_threads_of_one_process_share_its_measured_concurrency():
    """The probe measures one process's client (event loop, connection pool); the s3_read
    benchmark's two single-threaded workers each read at that rate (replay: median time
    error 0.50 -> 0.05 in log). Threads of one process share it."""
    assert readers_per_process(Resources(2, 1, 2**30, "local"), 64) == 1
    assert readers_per_process(Resources(2, 4, 2**30, "local"), 64) == 4
    assert readers_per_process(Resources(2, 4, 2**30, "local"), 4) == 2  # 2 tasks a worker
    assert readers_per_process(Resources(1, 8, 2**30, "threads"), 64) == 8
    assert readers_per_process(Resources(1, 8, 2**30, "threads"), 3) == 3


def _bytes(plan) -> int:
    return math.prod(plan.chunk_shape)


def test_chunks_grow_with_latency():
    """Same compute, more latency: the planner's chunks never shrink, and grow overall, up to
    the chunks whose requests fill the slots a task keeps in flight (zarr's 10)."""
    spec = ArraySpec((4096, 4096), "float32", storage_chunks=(512, 512))  # 1 MiB objects
    heavy = dataclasses.replace(compute_model(None), time=LinearFit(0.0, 50e-3 / MiB, 1.0),
                                samples=())
    plans = [make_plan(spec, WorkSpec(2), RES, dataclasses.replace(heavy, store=store(lat)))
             for lat in (0.0005, 0.02, 0.08)]
    sizes = [_bytes(p) for p in plans]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0], [p.chunk_shape for p in plans]


def test_noisy_samples_do_not_blur_the_modelled_reads():
    """The samples' run-to-run spread widens the tie band only over the share of a task they
    measured: with the time spent on modelled reads, a 60 % spread in 10 us samples must not
    turn every shape into a tie (which the tie rule would settle with the smallest chunk)."""
    from chunkpilot.core.plan import search
    from chunkpilot.core.ties import tie_band

    fast = tuple(Sample(b, (1,), 1e-8 * b / 1024, 3 * b, runs_seconds=(
        0.7e-8 * b / 1024, 1e-8 * b / 1024, 1.3e-8 * b / 1024)) for b in (MiB // 16, MiB // 4, MiB))
    light = dataclasses.replace(compute_model(None), samples=fast)
    assert tie_band(light) == pytest.approx(0.25)  # the spread, capped
    choice, evals = search(SPEC, WorkSpec(2), RES, dataclasses.replace(light, store=store(0.08)))
    assert choice.tie_band_fraction < 0.06
    fastest = min(e.wall_seconds for e in evals if e.fits_memory)
    assert choice.chosen.wall_seconds <= fastest * 1.06


def test_explanation_says_latency_binds_and_that_it_is_modelled():
    plan = make_plan(SPEC, WorkSpec(2), RES, compute_model(store(0.08)))
    text = plan.explain()
    assert "Reads are MODELLED from a store probe" in text
    assert "Latency binds at the storage chunks (128, 128): each task would spend" in text
    assert "keep more requests in flight and cut that to" in text
    d = plan.to_dict()
    assert d["store"]["latency_seconds"] == 0.08
    assert d["inputs"]["measurements"]["store"] == d["store"]
    sat = make_plan(SPEC, WorkSpec(2), RES, compute_model(store(0.08, overlap16=1.2)))
    assert "bigger chunks cannot cut the waiting" in sat.explain()
    local = make_plan(SPEC, WorkSpec(2), RES, compute_model(None))
    assert "store probe" not in local.explain() and local.to_dict()["store"] is None


def test_replan_keeps_the_store_model():
    from chunkpilot.core.replay import replan

    plan = make_plan(SPEC, WorkSpec(2), RES, compute_model(store(0.08)))
    again = replan(plan.to_dict()["inputs"])
    assert again.model.store == plan.model.store
    assert again.chunk_shape == plan.chunk_shape


def test_check_flags_objects_too_small_for_the_latency():
    slow = store(0.08, stored_bytes_per_byte=0.5)
    (p,) = latency_problems(SPEC, slow)
    assert p.code == "storage_objects_small" and "MODELLED from a store probe" in p.message
    shards = p.fix.split("shards (")[1].split(")")[0]
    shard = tuple(int(v) for v in shards.split(","))
    assert all(s % c == 0 for s, c in zip(shard, SPEC.storage_chunks, strict=True))
    assert math.prod(shard) * 4 * 0.5 >= slow.min_object_bytes() * 0.5  # sized for the store
    assert "inner chunks (128, 128) for random access" in p.fix
    # big objects, or a fast store: nothing to say
    assert latency_problems(SPEC, store(0.0001)) == []
    big = dataclasses.replace(SPEC, storage_chunks=(2048, 2048))
    assert latency_problems(big, store(0.02)) == []
