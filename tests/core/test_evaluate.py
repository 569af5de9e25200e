"""One shape's prediction (``chunkpilot.core.evaluate``): the wall-time formula's terms."""

from __future__ import annotations

import dataclasses
import math

import pytest

from chunkpilot.core.evaluate import FILL_DRAIN_TASKS, evaluate, read_amplification_seconds
from chunkpilot.core.growth import TaskGrowth
from chunkpilot.core.model import Sample, fit_cost_model
from chunkpilot.core.store import block_read, readers_per_process
from chunkpilot.types import ArraySpec, Resources, WorkSpec
from tests.s3.test_store_model import RES, SPEC, compute_model, store


def _waves(e) -> int:
    return math.ceil(e.task_count / RES.total_threads)


def test_fill_and_drain_charge_a_split_storage_chunks_re_read():
    """Local source: re-reading whole storage chunks is part of a task's work, so the
    fill/drain term charges it too (one task's time, everything included)."""
    MiB = 2**20  # samples that timed their reads: the model has a read curve
    model = fit_cost_model([Sample(b, (1,), 2e-3 * b / MiB, 3 * b, read_seconds=1e-3 * b / MiB)
                            for b in (MiB, 4 * MiB, 16 * MiB)], overhead_seconds_per_task=1e-3)
    chunk = (192, 128)  # splits the 128 x 128 storage chunks
    e = evaluate(chunk, SPEC, WorkSpec(2), RES, model)
    task_bytes = math.prod(chunk) * SPEC.itemsize
    again = read_amplification_seconds(model, SPEC, chunk, task_bytes)
    assert again > 0
    assert e.seconds_per_task == pytest.approx(model.task_seconds(task_bytes) + again)
    overhead = e.task_count * model.overhead_seconds_per_task
    assert e.wall_seconds == pytest.approx(
        overhead + (_waves(e) + FILL_DRAIN_TASKS) * e.seconds_per_task)


def test_fill_and_drain_leave_an_object_stores_read_to_the_read_model():
    """Object store: each task's read pays its own pipeline fill (``block_read``), so
    fill/drain charges only the work, not the modelled read again."""
    model, chunk = compute_model(store(0.05)), (256, 512)
    e = evaluate(chunk, SPEC, WorkSpec(2), RES, model)
    task_bytes = math.prod(chunk) * SPEC.itemsize
    work = model.task_seconds(task_bytes)
    read = block_read(model.store, SPEC, WorkSpec(2), chunk,
                      readers_per_process(RES, e.task_count)).seconds
    overhead = e.task_count * model.overhead_seconds_per_task
    assert e.seconds_per_task == pytest.approx(work + read)
    assert e.wall_seconds == pytest.approx(
        overhead + _waves(e) * (work + read) + FILL_DRAIN_TASKS * work)


def test_a_contractions_block_products_share_its_work_in_parallel():
    """x @ x.T on 2 chunks runs 4 block products: on 2 threads, two rounds of a quarter of
    the work each (and a quarter's drain), not one round of half of it."""
    MiB = 2**20
    samples = [Sample(b, (1,), 0.02 * b / MiB, 3 * b) for b in (MiB, 4 * MiB, 8 * MiB)]
    plain = fit_cost_model(samples, overhead_seconds_per_task=0.0)
    products = dataclasses.replace(plain, contraction_units=TaskGrowth((2, 1), 4, (2.0, 1.0)))
    spec, res = ArraySpec((4096, 4096), "float64"), Resources(1, 2, 64 * 2**30, "threads")
    chunk = (2048, 4096)
    assert products.parallel_units(spec.shape, chunk, 2) == 4
    assert products.parallel_units(spec.shape, (1024, 4096), 4) == 16
    e, p = (evaluate(chunk, spec, WorkSpec(2), res, m) for m in (plain, products))
    t = e.seconds_per_task  # a whole chunk's work: 64 MiB at 0.02 s/MiB, linear beyond 8 MiB
    assert t == pytest.approx(0.02 * 64)
    assert e.wall_seconds == pytest.approx((1 + FILL_DRAIN_TASKS) * t)
    assert p.wall_seconds == pytest.approx((2 + FILL_DRAIN_TASKS) * t / 2)


def test_a_worker_holds_blocks_only_for_the_threads_that_get_a_chunk():
    # before: a one-chunk array on 2 threads was charged two task peaks and two queued
    # blocks (dask auto's whole-array chunk looked twice its real footprint)
    mib = 2**20
    model = fit_cost_model([Sample(n * mib, (n,), 0.01 * n, 3 * n * mib,
                                   runs_seconds=(0.01 * n,) * 3) for n in (1, 4, 16)],
                           overhead_seconds_per_task=1e-3, baseline_bytes=100 * mib)
    spec, work = ArraySpec((4 * mib,), "float64"), WorkSpec(1)  # 32 MiB
    one_thread = evaluate((4 * mib,), spec, work, Resources(1, 1, 2**33), model)
    two_threads = evaluate((4 * mib,), spec, work, Resources(1, 2, 2**33), model)
    assert one_thread.task_count == 1
    assert two_threads.peak_bytes_per_worker == one_thread.peak_bytes_per_worker
    per_thread = one_thread.peak_bytes_per_worker - 100 * mib  # task peak + queued block
    halves = evaluate((2 * mib,), spec, work, Resources(1, 2, 2**33), model)
    assert halves.peak_bytes_per_worker > 100 * mib + 1.9 * per_thread / 2  # both threads
    two_workers = evaluate((2 * mib,), spec, work, Resources(2, 2, 2**33), model)
    assert two_workers.peak_bytes_per_worker < halves.peak_bytes_per_worker  # one chunk each


def test_a_storage_chunk_bigger_than_the_array_is_priced_as_stored():
    """Hunt 15: a (100, 100) array in (4000, 4000) zarr chunks decodes 122 MiB per read; the
    spec cut the chunk to the shape (78 KiB), so a 100 MiB worker passed the up-front check
    and the first sample died "out of memory", blaming the interpreter."""
    from chunkpilot.core.evaluate import check_smallest_block
    from chunkpilot.errors import NoFeasiblePlanError

    spec = ArraySpec((100, 100), "float64", storage_chunks=(4000, 4000))
    assert spec.storage_chunks == (100, 100) and spec.stored_chunk_nbytes == 4000 * 4000 * 8
    assert ArraySpec.from_dict(spec.to_dict()).storage_chunks == (100, 100)
    with pytest.raises(NoFeasiblePlanError, match=r"one storage chunk \(100, 100\), stored "
                                                  r"whole past the array's edge: 122\.07 MiB"):
        check_smallest_block(spec, WorkSpec(2), Resources(1, 1, 100 * 2**20, "threads"))
    check_smallest_block(ArraySpec((100, 100), "float64", storage_chunks=(100, 100)),
                         WorkSpec(2), Resources(1, 1, 100 * 2**20, "threads"))  # fits
