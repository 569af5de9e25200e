"""The pipeline cost model's corrections, on measurements written out by hand (pure)."""

from __future__ import annotations

import dataclasses
import math

import dask.array as da
import pytest

from chunkpilot.core.evaluate import evaluate
from chunkpilot.core.gather import gather
from chunkpilot.core.growth import TaskGrowth
from chunkpilot.core.model import Sample, fit_cost_model
from chunkpilot.core.plan import make_plan
from chunkpilot.pipeline.analysis import Analysis
from chunkpilot.pipeline.graph import profile_graph
from chunkpilot.pipeline.layers import layer_records
from chunkpilot.pipeline.measure import Measurement
from chunkpilot.pipeline.model import (
    gather_target,
    growth_run_seconds,
    pipeline_model,
    read_split,
)
from chunkpilot.pipeline.verify import priced_growth
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20
#: A (time, y, x) cube stored one plane per storage chunk, as rechunk_transpose's.
CUBE = ArraySpec((128, 512, 512), "float32", storage_chunks=(1, 512, 512))
RES = Resources(1, 2, 8 * 2**30, "threads")


def _measured(chunk, seconds, read_per_chunk, chunks=9):
    nbytes = math.prod(chunk) * 4
    s = Sample(nbytes, chunk, seconds, 10 * MiB, runs_seconds=(seconds * 0.98, seconds * 1.02))
    layers = (("from-zarr", chunks, read_per_chunk * chunks, 0), ("getitem", chunks, 1e-4, 0),
              ("var", chunks, 0.001, 0))
    return Measurement(s, chunk, None, per_layer=layers)


def test_a_split_storage_chunk_read_is_set_apart_from_the_sample():
    # (128, 32, 16) reads all 128 planes (128 MiB) for 0.25 MiB: 73 of its 85 ms
    m = _measured((128, 32, 16), 0.085, 0.073)
    s = read_split(m, CUBE, m.sample)
    own = 0.073 * (0.25 / 128)
    assert s.read_seconds == pytest.approx(own)
    assert s.seconds == pytest.approx(0.085 - 0.073 + own)
    assert s.runs_seconds[0] == pytest.approx(s.seconds * 0.98)


def test_the_work_after_the_reads_keeps_its_seconds_when_the_read_is_set_apart():
    m = _measured((128, 32, 16), 0.085, 0.073)
    m = dataclasses.replace(m, sample=dataclasses.replace(m.sample, downstream_share=0.1))
    s = read_split(m, CUBE, m.sample)
    assert s.seconds * s.downstream_share == pytest.approx(0.085 * 0.1)


def test_an_aligned_sample_keeps_its_time_and_names_its_read():
    m = _measured((4, 512, 512), 0.010, 0.004)
    s = read_split(m, CUBE, m.sample)
    assert s.seconds == pytest.approx(0.010)
    assert s.read_seconds == pytest.approx(0.004)


def test_without_storage_chunks_or_a_read_layer_nothing_changes():
    m = _measured((128, 32, 16), 0.085, 0.073)
    plain = ArraySpec(CUBE.shape, CUBE.dtype)
    assert read_split(m, plain, m.sample) == m.sample
    bare = Measurement(m.sample, m.chunk, None, per_layer=(("var", 9, 0.05, 0),))
    assert read_split(bare, CUBE, m.sample) == m.sample


def test_the_planner_then_prices_whole_planes_below_split_ones():
    """The flat 85 ms curve, fitted as it was, made a whole-plane chunk cost 2.8 s; with the
    read set apart, a chunk covering whole planes pays its own read once, and a chunk that
    splits them pays the 128 MiB read every time (the half-planes chunk: two tasks, one
    round, against 16 tasks of split planes)."""
    ms = [_measured(c, t, 0.073) for c, t in (((128, 32, 16), 0.085), ((128, 64, 32), 0.083),
                                              ((128, 128, 64), 0.089))]
    before = fit_cost_model([m.sample for m in ms], overhead_seconds_per_task=1e-4,
                            overhead_measured=True)
    after = fit_cost_model([read_split(m, CUBE, m.sample) for m in ms],
                           overhead_seconds_per_task=1e-4, overhead_measured=True)
    work = WorkSpec(3, keep_whole=(0,))
    whole, half, split = (128, 512, 512), (128, 256, 512), (128, 128, 128)
    assert evaluate(whole, CUBE, work, RES, before).seconds_per_task > 2.0  # the old misfit
    assert evaluate(whole, CUBE, work, RES, after).seconds_per_task < 1.0
    a_half = evaluate(half, CUBE, work, RES, after)
    a_split = evaluate(split, CUBE, work, RES, after)
    assert a_split.seconds_per_task > 0.073  # still reads every plane it touches
    assert a_half.wall_seconds < a_split.wall_seconds
    assert evaluate(half, CUBE, work, RES, before).wall_seconds > \
        evaluate(split, CUBE, work, RES, before).wall_seconds  # the old fit chose split planes


def _graph(fn, chunks, shape=(64, 96, 96)):
    x = da.zeros(shape, chunks=chunks, dtype="f4")
    return profile_graph(layer_records(fn(x).__dask_graph__()), x.name)


def _run_at(chunk, graph):
    s = Sample(math.prod(chunk) * 4, chunk, 0.01, 10 * MiB, runs_seconds=(0.01, 0.01))
    return Measurement(s, chunk, graph)


@pytest.mark.parametrize(("fn", "kept"), [
    # dask's nanmedian rechunks only input split along the reduced axis
    (lambda x: da.nanmedian(x, axis=0), False),
    # an explicit rechunk to whole time and auto-sized tiles merges the tiles all the same
    (lambda x: x.rechunk({0: -1, 1: "auto", 2: "auto"}).std(axis=0), True),
])
def test_a_rechunk_the_graph_skips_at_the_planned_chunks_gathers_nothing(fn, kept):
    """The analysis graph (time split) rechunks; runs at chunks with time whole are what the
    plan chooses among: only a graph that still rechunks there gathers."""
    analysis = _graph(fn, (16, 32, 32))
    assert analysis.rechunk_layers and 0 in analysis.whole_axes
    runs = [_run_at(c, _graph(fn, c)) for c in ((64, 16, 16), (64, 32, 32))]
    target = gather_target(analysis, runs)
    assert (target is not None) == kept
    assert gather(CUBE.shape, (128, 64, 64), target, 4) is None or kept
    assert gather_target(analysis) is not None  # without runs: the analysis graph decides


def test_the_wider_growth_run_is_priced_from_the_narrow_cold_run_per_chunk():
    """The run that measures how memory grows with chunks is the narrow one's cold run
    scaled by chunks: 9 chunks cold in 1.2 s, so 36 should take 4.8 s (over the budget)."""
    s = Sample(MiB, (512, 512), 0.1, 10 * MiB)
    m = Measurement(s, (512, 512), None, nominal_count=9.0, cold_seconds=1.2)
    assert growth_run_seconds(m, 36.0) == pytest.approx(4.8)
    assert growth_run_seconds(Measurement(s, (512, 512), None, nominal_count=9.0), 36.0) is None


def test_samples_gathered_by_a_rechunk_are_fitted_against_the_chunks_it_made():
    """Sub-arrays of 3 chunks along time, made whole by the pipeline's rechunk: each run
    peaked at 3x the chunk the rechunk made (9x its input chunk). The model prices 3x the
    chunk a task works on after the rechunk: at time-whole chunks (a no-op there) 3x the
    input chunk, not 9x (xarray's polyfit in hunt 19: auto refused at 2.6 GiB, ran in ~200
    MiB)."""
    def fn(x):
        return x.rechunk({0: -1}).std(axis=0)

    spec = ArraySpec((64, 96, 96), "float32")
    runs = []
    for c in ((16, 32, 32), (16, 48, 48)):
        g = _graph(fn, c, shape=tuple(3 * n for n in c))
        nbytes = math.prod(c) * 4
        s = Sample(nbytes, c, 0.01, 9 * nbytes, runs_seconds=(0.01, 0.01))
        runs.append(Measurement(s, c, g, tasks_per_chunk=g.tasks_per_input_chunk))
    analysis = _graph(fn, (16, 32, 32), shape=spec.shape)
    an = Analysis((16, 32, 32), analysis, TaskGrowth((4, 3, 3), analysis.tasks, (1.0, 1.0, 1.0)))
    model = pipeline_model(runs, spec, an, overhead_seconds_per_task=0.0,
                           overhead_measured=True, baseline_bytes=0)
    assert model.memory.slope == pytest.approx(3.0, rel=0.01)
    whole = evaluate((64, 32, 32), spec, WorkSpec(3), RES, model)
    assert whole.peak_bytes_per_task == pytest.approx(3 * 64 * 32 * 32 * 4, rel=0.01)
    split = evaluate((16, 32, 32), spec, WorkSpec(3), RES, model)  # gathers 4 into one
    assert split.peak_bytes_per_task >= 3 * 64 * 32 * 32 * 4 * 0.99
    # the graph check's blow-up at the plan: what the samples gathered (3 chunks) grown by
    # what the model already prices there (4 chunks gathered), not a blow-up they missed
    plan = make_plan(spec, WorkSpec(3), RES, model)
    assert priced_growth(dataclasses.replace(plan, chosen=split), spec) == pytest.approx(4 / 3)
    assert priced_growth(dataclasses.replace(plan, chosen=whole), spec) == 1.0
