"""Sub-array measurements in a real pipeline sandbox (``pipeline.measure``): how many runs."""

from __future__ import annotations

import dataclasses
import pickle
import time

import numpy as np
import pytest

from chunkpilot.errors import PipelineBuildError
from chunkpilot.measure.sandbox import pickle_func
from chunkpilot.pipeline.family import measure_family
from chunkpilot.pipeline.measure import SUBARRAY_TIME_BUDGET_S, PipelineSandbox
from chunkpilot.pipeline.model import _held_sample, resized_note
from chunkpilot.pipeline.rules import thread_speedup
from chunkpilot.pipeline.runs import COLD_ONLY_RUNS
from chunkpilot.types import ArraySpec, Resources, WorkSpec

pytestmark = pytest.mark.timing  # measured time or CPU: runs alone (tests/helpers/timing_gate.py)

SPEC = ArraySpec((64, 64), "float64")
#: Per input chunk: a 3 x 3 sub-array runs ~1.5x the time budget.
CHUNK_SLEEP_S = SUBARRAY_TIME_BUDGET_S * 1.5 / 9


def _slow(block: np.ndarray) -> np.ndarray:
    time.sleep(CHUNK_SLEEP_S)
    return block


def slow_sum(x):
    return x.map_blocks(_slow, dtype=x.dtype).sum()


def _box() -> PipelineSandbox:
    return PipelineSandbox(pickle_func(slow_sum) or b"", SPEC, {"kind": "synthetic"}, {},
                           2**30, 60.0)


def test_a_sub_array_over_the_budget_runs_once_warm_after_its_cold_run():
    """Its cold run alone took longer than the budget: one warm run, not three (matmul's
    1024 x 1024 sample, 1.6 s a run), two for the largest sample (a single slow run of it
    anchored the curve: ``pipeline.runs``); the threads comparison reuses the warm run."""
    top = _box().measure(SPEC, WorkSpec(2), (16, 16), over_budget_runs=2)
    assert len(top.sample.runs_seconds) == 2
    m = _box().measure(SPEC, WorkSpec(2), (16, 16), threads=2)
    assert m.sample.ok, m.sample.error
    assert len(m.sample.runs_seconds) == 1
    # sleeping tasks keep no core busy (CPU over wall time of the warm run)
    assert m.sample.cores_busy is not None and m.sample.cores_busy < 0.5
    assert m.sample.seconds >= CHUNK_SLEEP_S
    assert m.scaling is not None and m.scaling["sync_wall_seconds"] >= 9 * CHUNK_SLEEP_S


def _slower(block: np.ndarray) -> np.ndarray:
    time.sleep(SUBARRAY_TIME_BUDGET_S * COLD_ONLY_RUNS * 1.2 / 9)
    return block


def slower_sum(x):
    return x.map_blocks(_slower, dtype=x.dtype).sum()


@pytest.mark.beside_others  # a slower machine only puts the cold run further over the budget
def test_a_sub_array_far_over_the_budget_is_timed_by_its_cold_run_alone():
    """A cold run past ``COLD_ONLY_RUNS`` budgets is the measurement (rechunk_transpose's 2 s
    sub-arrays: a warm run each cost 6 s of a 15 s advise): no warm run, its time and its
    share downstream of the input tasks from the cold run, and the threads comparison
    beside the cold run's wall time."""
    box = PipelineSandbox(pickle_func(slower_sum) or b"", SPEC, {"kind": "synthetic"}, {},
                          2**30, 60.0)
    m = box.measure(SPEC, WorkSpec(2), (16, 16), threads=2)
    assert m.sample.ok, m.sample.error
    assert m.sample.runs_seconds == ()
    assert m.sample.cores_busy is None  # the cold run also ran the peak watcher's thread
    per_chunk = SUBARRAY_TIME_BUDGET_S * COLD_ONLY_RUNS * 1.2 / 9
    assert m.sample.seconds >= per_chunk
    # the sleeping blocks are fused into the input tasks: nearly nothing downstream of them
    assert m.sample.downstream_share is not None and m.sample.downstream_share < 0.1
    assert m.scaling is not None and m.scaling["sync_wall_seconds"] >= 9 * per_chunk


@pytest.mark.beside_others  # runs cold whatever it measures; the sleep is a lower bound
def test_a_peak_only_measurement_runs_cold_only():
    m = _box().measure(SPEC, WorkSpec(2), (16, 16), warm=False)
    assert m.sample.ok, m.sample.error
    assert m.sample.runs_seconds == ()
    assert m.sample.seconds >= CHUNK_SLEEP_S and m.sample.peak_bytes is not None


def test_a_measurement_carried_to_another_family_keeps_its_warm_runs():
    """``rebase`` re-sizes the sample to the family's halo; its warm runs and read time are
    still the measurement's (they set the spread behind the tie band): dropping them showed
    the first sample of every pipeline advise as "over 0 warm runs"."""
    from chunkpilot.core.sample import Sample
    from chunkpilot.pipeline.family import rebase
    from chunkpilot.pipeline.measure import Measurement

    runs = (0.010, 0.012, 0.011)
    m = Measurement(Sample(16 * 16 * 8, (16, 16), 0.011, 4096, runs_seconds=runs,
                           read_seconds=0.002), (16, 16), None)
    out = rebase(m, SPEC, WorkSpec(2, depth=(2, 2)))
    assert out is not None
    assert out.sample.shape == (20, 20) and out.sample.nbytes == 20 * 20 * 8
    assert out.sample.runs_seconds == runs and out.sample.read_seconds == 0.002
    assert out.sample.spread_fraction > 0


def _sleepy(block: np.ndarray) -> np.ndarray:
    time.sleep(0.02)
    return block


def slow_after_rechunk(x):
    return x.rechunk({0: -1}).map_blocks(_sleepy, dtype=x.dtype).sum()


def slow_before_rechunk(x):
    return x.map_blocks(_sleepy, dtype=x.dtype).rechunk({0: -1}).sum()


def test_a_sample_times_the_work_after_the_input_reads_apart():
    """The same sleep after a rechunk (3 merged chunks of the 3 x 3 sub-array) or fused into
    the 9 input tasks: the share the model spreads over the rechunk's chunks follows it."""
    def share(pipeline):
        box = PipelineSandbox(pickle_func(pipeline) or b"", SPEC, {"kind": "synthetic"}, {},
                              2**30, 60.0)
        m = box.measure(SPEC, WorkSpec(2), (16, 16))
        assert m.sample.ok, m.sample.error
        return m.sample.downstream_share

    after, before = share(slow_after_rechunk), share(slow_before_rechunk)
    assert after is not None and after > 0.8
    assert before is not None and before < 0.3


def test_input_tasks_are_those_that_read_the_store_and_nothing_downstream(tmp_path):
    import dask
    import dask.array as da
    import zarr
    from dask.utils import key_split

    from chunkpilot.pipeline.child import input_tasks

    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=(8, 32, 32), chunks=(1, 32, 32),
                          dtype="f4")
    x = da.from_zarr(z, chunks=(2, 32, 32))
    (out,) = dask.optimize((x * 2).rechunk({0: -1, 1: 8}).std(axis=0).sum())
    dsk = dict(out.__dask_graph__())
    found = input_tasks(dsk)
    assert len(found) == 4  # one per input chunk: read and x2 fused
    assert {key_split(k) for k in found} == {"mul"}


def test_input_tasks_in_a_plain_dict_graph_skip_the_store_value():
    """dask's older graphs hold the store object as a raw value, not a DataNode."""
    from chunkpilot.pipeline.child import input_tasks

    store = np.arange(4)
    dsk = {"store": store, ("read", 0): (np.copy, "store"), ("read", 1): (np.copy, "store"),
           ("merge", 0): (np.add, ("read", 0), ("read", 1))}
    assert input_tasks(dsk) == {("read", 0), ("read", 1)}


def contract(x):
    import dask.array as da

    return da.tensordot(x, x, axes=([1, 2], [1, 2])).sum()


@pytest.mark.beside_others  # counts tasks, asserts no time
def test_a_sub_array_of_a_store_runs_the_graph_the_whole_array_runs(tmp_path):
    """On the whole array dask fuses the store read into every block product of a
    tensordot (each product re-reads both blocks); the sub-array used to be a slice of the
    whole, whose getitem layer kept one read task per chunk, so samples ran a cheaper graph
    than the array would (a 16 x 64 x 64 tensordot: 5 ms per chunk sampled, 28 ms run)."""
    import zarr

    shape, chunk = (48, 96, 96), (8, 16, 16)
    z = zarr.create_array(str(tmp_path / "a.zarr"), shape=shape, chunks=chunk, dtype="f4")
    z[:] = np.random.default_rng(0).random(shape).astype("f4")
    spec = ArraySpec(shape, "float32", storage_chunks=chunk)
    box = PipelineSandbox(pickle_func(contract) or b"", spec,
                          {"kind": "zarr", "path": str(tmp_path / "a.zarr")}, {}, 2**30, 60.0)
    m = box.measure(spec, WorkSpec(3), chunk, warm=False)
    assert m.sample.ok, m.sample.error
    layers = {name: n for name, n, _, _ in m.per_layer}
    assert "from-zarr" not in layers  # no read task of its own: fused into the products
    assert sum(layers.values()) > 3 * 3 * 3 * 3  # 3 x 3 output blocks x 9 contracted, + sums


#: Seconds a block sleeps per column it holds.
COLUMN_S = 0.002


def _per_column(block: np.ndarray) -> np.ndarray:
    time.sleep(block.shape[1] * COLUMN_S)
    return block


def column_sum(x):
    return x.map_blocks(_per_column, dtype=x.dtype).sum()


@pytest.mark.beside_others  # the sleeps are a lower bound; the rest counts chunks
def test_a_sub_array_cut_by_the_arrays_edge_is_timed_per_chunk_of_its_nominal_size():
    """16 x 16 chunks of a 40-column array: the 3 x 3 sub-array runs 16 + 16 + 8 columns.
    Timed per input chunk, the short ones made a 16-column chunk look 13.3 columns long
    (x.T @ x's 6 MiB sample then ran below its 4 MiB one); per nominal chunk it is 16. A
    band's memory counts the run's chunks the same way."""
    spec = ArraySpec((64, 40), "float64")
    box = PipelineSandbox(pickle_func(column_sum) or b"", spec, {"kind": "synthetic"}, {},
                          2**30, 60.0)
    m = box.measure(spec, WorkSpec(2), (16, 16))
    assert m.sample.ok, m.sample.error
    assert m.sample.seconds >= 16 * COLUMN_S  # sleeps last at least that long
    assert m.graph is not None and m.graph.input_chunks == 9
    # what the run held, for a band (core.held): 7.5 chunks' worth of 16 x 16, not 9
    assert m.chunks_held == 48 * 40 / (16 * 16)
    assert _held_sample(m).chunks_run == m.chunks_held



def _per_byte_slow(block: np.ndarray) -> np.ndarray:
    time.sleep(0.75 * block.nbytes / 2**20)  # a 1 MiB sub-array (3 chunks of 64 rows): 2.3 s
    return block


def per_byte_slow_sum(x):
    return x.map_blocks(_per_byte_slow, dtype=x.dtype).sum()


def test_a_slow_pipelines_second_small_sample_is_sized_to_the_run_budget():
    """A 4 MiB sample after a 1 MiB one whose sub-array took ~2.3 s cold would run ~9 s (and
    its threads comparison as long again): it runs where the budget allows instead, here
    below the 1 MiB one (the budget allows no size well past it), and that sample still
    times the threads (the scaling run)."""
    spec = ArraySpec((2048, 2048), "float64")  # 32 MiB
    box = PipelineSandbox(pickle_func(per_byte_slow_sum) or b"", spec, {"kind": "synthetic"},
                          {}, 2**30, 60.0)
    ms = measure_family(box, spec, WorkSpec(2), Resources(1, 2, 2**30, "threads"),
                        baseline_guess_bytes=0, threads=2)
    sizes = [m.sample.nbytes for m in ms]
    assert max(sizes) == 2**20 and len(sizes) >= 3
    scaled = [m for m in ms if m.scaling]
    assert [m.sample.nbytes for m in scaled] == [2**18]
    assert thread_speedup(scaled[0].scaling) is not None  # long enough to price threads
    assert [m.planned_bytes for m in ms if m.planned_bytes] == [4 * 2**20]
    assert resized_note(ms, 8).startswith("The 4.00 MiB sample was measured at 256.00 kiB")
    one = max(ms, key=lambda m: m.sample.nbytes)  # planned, but rounded to the same chunk
    assert resized_note([dataclasses.replace(one, planned_bytes=2**20)], 8) is None


def _pause(total: np.ndarray) -> np.ndarray:
    time.sleep(1.2)  # once per run, whatever its chunks
    return total


def slow_whole_sum(x):
    return x.sum().map_blocks(_pause, dtype=x.dtype)


@pytest.mark.beside_others  # a slower machine only makes the old rule shrink it more
def test_a_sample_spanning_the_whole_array_anyway_is_not_made_smaller_for_the_budget():
    """A pipeline that needs every axis whole (xarray's polyfit with its coordinates) runs
    the whole array at every sample size: a smaller sample saves no time. Here a run takes
    1.2 s whatever its chunks; at 4 MiB, 4x the 1 MiB sample's chunk, the old rule predicted
    4.8 s, over the 3 s budget, and measured 2.5 MiB instead."""
    spec = ArraySpec((2048, 2048), "float64")  # 32 MiB
    box = PipelineSandbox(pickle_func(slow_whole_sum) or b"", spec, {"kind": "synthetic"},
                          {}, 2**30, 60.0, full_axes=(0, 1))
    ms = measure_family(box, spec, WorkSpec(2), Resources(1, 1, 2**30, "threads"),
                        baseline_guess_bytes=0)
    assert all(m.sample.ok for m in ms), [m.sample.error for m in ms]
    assert min(m.cold_seconds for m in ms) >= 1.2  # each ran the whole array once cold
    assert 4 * 2**20 in [m.sample.nbytes for m in ms]
    assert not [m.planned_bytes for m in ms if m.planned_bytes]


def refuses_odd_chunks(x):
    if x.chunks[0][0] % 2:
        raise ValueError("my kernel wants even chunks.")
    return x + 1


def persists(x):
    return (x + 1).persist()


@pytest.mark.beside_others  # errors of graph builds, no measurement
def test_a_failed_build_says_what_the_pipeline_raised_as_a_field_not_in_the_message_only():
    def box(f):
        return PipelineSandbox(pickle_func(f) or b"", SPEC, {"kind": "synthetic"}, {},
                               2**30, 60.0)

    assert box(refuses_odd_chunks).graphs([((64, 64), (8, 8))])  # builds
    with pytest.raises(PipelineBuildError, match="Got exception: ValueError") as info:
        box(refuses_odd_chunks).graphs([((64, 64), (9, 9))])
    assert info.value.cause == "ValueError: my kernel wants even chunks."
    again = pickle.loads(pickle.dumps(info.value))  # sandboxes and workers pickle errors
    assert (str(again), again.cause) == (str(info.value), info.value.cause)
    with pytest.raises(PipelineBuildError, match=r"^Expected the pipeline to return a lazy") as e:
        box(persists).graphs([((64, 64), (8, 8))])
    assert e.value.cause == str(e.value)
