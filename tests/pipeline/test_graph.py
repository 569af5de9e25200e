"""Pure graph analysis and pipeline rules on real dask graphs built in-process (none computed)."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import dask.array as da
import pytest

from chunkpilot.core.growth import estimate_tasks, fit_task_exponents
from chunkpilot.core.taskcap import GraphLimits
from chunkpilot.errors import InvalidArgumentError
from chunkpilot.pipeline.analysis import analysis_builds, analysis_chunk, analysis_from
from chunkpilot.pipeline.findings import PipelineFindings, blowup_warnings, pipeline_notes
from chunkpilot.pipeline.graph import profile_graph, reshape_groups
from chunkpilot.pipeline.layers import LayerRecord, layer_records
from chunkpilot.pipeline.rules import families, layout_advice, thread_speedup
from chunkpilot.types import ArraySpec, Resources, WorkSpec

RES = Resources(2, 1, 512 * 2**20, "local")


def _profile(fn, shape=(600, 400), chunks=(200, 100)):
    x = da.zeros(shape, chunks=chunks)
    return profile_graph(layer_records(fn(x).__dask_graph__()), x.name)


# (id, pipeline, expected fields of the GraphProfile)
CASES = [
    ("elementwise", lambda x: x * 2 + 1,
     dict(overlap_depth=(0, 0), whole_axes=(), contraction_axes=(), rechunk_layers=())),
    ("map_overlap", lambda x: x.map_overlap(lambda b: b, depth={0: 3, 1: 5}, boundary="reflect"),
     dict(overlap_depth=(3, 5), whole_axes=())),
    ("asymmetric overlap", lambda x: da.overlap.overlap(x, depth={0: (1, 4)}, boundary="none"),
     dict(overlap_depth=(4, 0))),
    ("matmul x @ x.T", lambda x: x @ x.T,
     dict(contraction_axes=(1,), contraction_layers=("matmul",), self_product_axes=(0,))),
    ("gram x.T @ x", lambda x: x.T @ x, dict(contraction_axes=(0,), self_product_axes=(1,))),
    ("centred gram", lambda x: (x - x.mean(axis=0)) @ (x - x.mean(axis=0)).T,
     dict(contraction_axes=(1,), self_product_axes=(0,))),
    # SYRK needs the same buffer: a transpose of another array's blocks pairs nothing
    ("x @ (2 x).T is no self-product", lambda x: x @ (2 * x).T,
     dict(contraction_axes=(1,), self_product_axes=())),
    ("tensordot", lambda x: da.tensordot(x, x, axes=(1, 1)), dict(contraction_axes=(1,))),
    ("broadcast is no contraction", lambda x: x - x.mean(axis=0)[None, :],
     dict(contraction_axes=())),
    ("reduction along axis 0", lambda x: (x - x.mean(axis=0)) / x.std(axis=0),
     dict(contraction_axes=(), whole_axes=())),
    ("explicit rechunk to whole axis", lambda x: da.fft.rfft(x.rechunk({1: -1}), axis=1),
     dict(whole_axes=(1,), hidden_whole_axes=(), rechunk_layers=("rechunk-merge",))),
    ("rechunk to fixed length", lambda x: x.rechunk((50, 100)) + 1,
     dict(whole_axes=(), rechunk_targets=((0, 50),))),
]


@pytest.mark.parametrize(("fn", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_profile_graph(fn, expected):
    p = _profile(fn)
    for field, value in expected.items():
        assert getattr(p, field) == value, field
    assert p.input_chunk == (200, 100)
    assert p.input_chunks == 12 and p.input_grid == (3, 4)
    assert p.tasks >= p.input_chunks


def test_reshape_hides_a_whole_axis_rechunk_and_blows_up_at_full_size():
    p = _profile(lambda x: x.reshape(64, -1).mean(axis=1), (64, 256, 256), (8, 32, 32))
    assert p.whole_axes == (2,)
    assert p.hidden_whole_axes == (2,)
    assert p.reshape_layers == ("reshape",)
    assert p.largest_intermediate_layer == "rechunk-merge"
    assert p.blowup == pytest.approx(8.0)
    # with the merged axis whole, reshape needs no rechunk at all
    q = _profile(lambda x: x.reshape(64, -1).mean(axis=1), (64, 256, 256), (8, 32, 256))
    assert (q.whole_axes, q.rechunk_layers, q.blowup) == ((), (), 1.0)


@pytest.mark.parametrize(("old", "new", "groups"), [
    ((730, 128, 256), (730, 32768), [((0,), (0,)), ((1,), (1, 2))]),
    ((6, 4), (2, 3, 4), [((0, 1), (0,)), ((2,), (1,))]),
    ((6, 4), (24,), [((0,), (0, 1))]),
    ((5, 1), (5,), [((0,), (0,))]),
    ((6, 4), (4, 6), []),  # 6 vs 4 then 24 vs 24: one group of all
])
def test_reshape_groups_axes_whose_lengths_multiply_alike(old, new, groups):
    got = reshape_groups(old, new)
    if groups:
        assert got == groups
    else:
        assert got == [((0, 1), (0, 1))]


def test_a_rechunk_after_a_reshape_is_traced_to_the_input_axis_the_reshape_kept():
    """xarray's polyfit reshapes (time, lat, lon) to (time, lat * lon) without a rechunk,
    then makes time one chunk: that is input axis 0, which a plan can keep whole (it was
    untraced: the plan split time and priced the gather's blow-up at every chunk size)."""
    def trend(x):
        t = x.reshape(x.shape[0], -1, merge_chunks=False).rechunk({0: -1})
        return (t * da.arange(t.shape[0])[:, None]).sum(axis=0)
    p = _profile(trend, (64, 32, 32), (8, 16, 16))
    # (dask first makes the merged axis 2 whole for the reshape, hidden inside it)
    assert p.whole_axes == (0, 2) and p.hidden_whole_axes == (2,)
    # time split as (years, 12 months) and the months made whole: not the whole time axis
    split = _profile(lambda x: x.reshape(8, 8, 32, 32).rechunk({1: -1}).mean(axis=1),
                     (64, 32, 32), (4, 16, 16))
    assert split.whole_axes == () and split.rechunk_layers
    # ... and both parts made whole (a median over years, hunt 20: it was left out, and the
    # samples' gather of the whole sub-array priced dask auto's chunk 10x over)
    years = _profile(lambda x: da.nanmedian(x.reshape(x.shape[0] // 12, 12, 32, 32), axis=0),
                     (240, 32, 32), (12, 16, 16))
    assert 0 in years.whole_axes
    # lat merged with lon and the merged axis made one chunk: lat is gathered whole
    flat = _profile(lambda x: x.reshape(x.shape[0], -1).rechunk({1: -1}), (48, 64, 32),
                    (48, 8, 32))
    assert flat.whole_axes == (1,)
    xr = pytest.importorskip("xarray")
    fit = _profile(lambda x: xr.DataArray(x, dims=("time", "y", "x")).polyfit("time", 1)
                   .polyfit_coefficients.data, (64, 32, 32), (8, 16, 16))
    assert 0 in fit.whole_axes


def test_broadcast_blowup_is_measured_from_chunk_metadata():
    p = _profile(lambda x: (x[:, :, None] * da.ones(30)).sum(axis=1))
    assert p.blowup == pytest.approx(30.0)
    assert p.largest_intermediate_layer == "mul"


def test_layer_records_round_trip_json():
    x = da.zeros((100, 100), chunks=(25, 25))
    recs = layer_records((x @ x.T).__dask_graph__())
    back = [LayerRecord.from_dict(json.loads(json.dumps(r.to_dict()))) for r in recs]
    assert back == recs


@pytest.mark.filterwarnings("ignore:Increasing number of chunks:dask.array.core.PerformanceWarning")
def test_task_exponents_and_estimate_against_real_graphs():
    """Scale from 3 and 6 chunks per axis; compare with the graph at 12 x 9 chunks."""
    def tasks(n0, n1):
        return _profile(lambda y: y @ y.T, (10 * n0, 10 * n1), (10, 10)).tasks

    base = tasks(3, 3)
    p = fit_task_exponents((3, 3), base, [(0, 6, tasks(6, 3)), (1, 6, tasks(3, 6))])
    assert p[0] > 1.5  # output blocks grow with the square of the kept axis
    est = estimate_tasks((3, 3), base, p, (120, 90), (10, 10))
    assert 0.7 < est / tasks(12, 9) < 1.4


def test_families_for_rechunk_overlap_and_contraction():
    spec = ArraySpec((2048, 1024), "float64", storage_chunks=(256, 256))
    work = WorkSpec(2)
    rechunk = _profile(lambda x: da.fft.rfft(x.rechunk({1: -1}), axis=1), spec.shape, (256, 256))
    assert [f.label for f in families(spec, work, rechunk, RES)] == ["no-rechunk", "split"]
    assert families(spec, work, rechunk, RES)[0].work.keep_whole == (1,)
    gram = _profile(lambda x: x.T @ x, spec.shape, (256, 256))
    assert [f.label for f in families(spec, work, gram, RES)] == ["split"]
    assert gram.contraction_bytes == gram.input_chunk_bytes  # (256, 256) partial products
    overlap = _profile(lambda x: x.map_overlap(lambda b: b, depth=8), spec.shape, (256, 256))
    (split,) = families(spec, work, overlap, RES)
    assert split.work.depth == (8, 8)
    # an axis too big to keep whole in memory is not tried
    big = ArraySpec((2**30, 64), "float64")
    assert [f.label for f in families(big, WorkSpec(2), _profile(
        lambda x: x.rechunk({0: -1}), (600, 64), (100, 64)), RES)] == ["split"]


def test_analysis_chunk_is_storage_like_and_split_on_every_axis():
    spec = ArraySpec((2048, 1024, 7), "float64", storage_chunks=(64, 1024, 1))
    assert analysis_chunk(spec, WorkSpec(3, (2,), (0, 0, 0))) == (256, 1024, 7)
    assert analysis_chunk(ArraySpec((100,), "float64"), WorkSpec(1, (), (20,))) == (20,)


def _scaling(threads, sync, wall, cpu):
    return dict(threads=threads, sync_wall_seconds=sync, threaded_wall_seconds=wall,
                threaded_cpu_seconds=cpu)


@pytest.mark.parametrize(
    ("scaling", "expect"),
    [
        (None, None),  # not measured
        (_scaling(2, 0.1, 0.1, 0.1), None),  # too short to judge
        (_scaling(2, 1.0, 0.55, 1.1), None),  # scales
        (_scaling(2, 1.0, 1.0, 1.0), "GIL"),
        (_scaling(2, 1.0, 1.2, 4.0), "OMP_NUM_THREADS=1"),
        (_scaling(4, 1.0, 0.8, 2.4), "contend"),
    ],
    ids=["none", "short", "scales", "gil", "blas", "contention"],
)
def test_layout_advice(scaling, expect):
    _, advice = layout_advice(scaling, Resources(1, 4, 2**30, "threads"))
    if scaling is not None and expect is not None:  # a contraction with BLAS not pinned
        blas = layout_advice({**scaling, "blas_env": {}}, Resources(1, 4, 2**30, "threads"), True)
        assert "OMP_NUM_THREADS=1" in blas[1]
        pinned = {**scaling, "blas_env": {"OMP_NUM_THREADS": "1"}}
        assert layout_advice(pinned, Resources(1, 4, 2**30, "threads"), True)[1] == advice
    if expect is None:
        assert advice is None
    else:
        assert expect in advice
        assert "4 worker processes x 1 thread" in advice


@pytest.mark.parametrize(
    ("scaling", "expect"),
    [
        (None, None),
        (_scaling(2, 0.1, 0.1, 0.1), None),  # too short to judge
        (_scaling(1, 1.0, 1.0, 1.0), None),  # one thread: nothing to compare
        (_scaling(2, 1.0, 0.55, 1.1), 1.0 / 0.55),
        (_scaling(2, 1.0, 0.93, 1.0), 1.0 / 0.93),  # takes turns (a histogram's: 1.03-1.14)
        (_scaling(4, 1.0, 0.5, 2.0), 1.0 + 1.0 / 3),  # each added thread adds a third
    ],
    ids=["none", "short", "one-thread", "scales", "turns", "four-threads"],
)
def test_thread_speedup_is_the_two_thread_equivalent_of_the_scaling_run(scaling, expect):
    got = thread_speedup(scaling)
    assert got == pytest.approx(expect) if expect is not None else got is None


def test_graph_limits_validate_and_refuse():
    with pytest.raises(InvalidArgumentError, match="warn_tasks <= max_tasks"):
        GraphLimits(warn_tasks=10, max_tasks=5)
    with pytest.raises(InvalidArgumentError, match="blowup_factor > 1"):
        GraphLimits(blowup_factor=1)


def _report(graph, analysis, **kw):
    return PipelineFindings("no-rechunk", "why.", (), (8, 32, 32), analysis, graph, None, 100, None,
                          3.0, (("reshape", 4, 0.1, 1000),), **kw)


def test_reshape_warning_says_whether_the_plan_avoids_it():
    shape = (64, 256, 256)
    analysis = _profile(lambda x: x.reshape(64, -1).mean(axis=1), shape, (8, 32, 32))
    kept = _profile(lambda x: x.reshape(64, -1).mean(axis=1), shape, (8, 32, 256))
    (text,) = blowup_warnings(_report(kept, analysis), 8.0, shape)
    assert "reshape merges input axis 2" in text and "avoids it" in text
    split = _profile(lambda x: x.reshape(64, -1).mean(axis=1), shape, (8, 32, 128))
    texts = blowup_warnings(_report(split, analysis), 8.0, shape)
    assert any("cannot keep it whole" in t for t in texts)
    notes = pipeline_notes(_report(kept, analysis), (0, 0, 0), (8, 32, 256), shape)
    assert any("no rechunk layer" in n for n in notes)
    json.dumps(_report(kept, analysis).to_dict())


def test_pipeline_rules_stay_pure():
    code = ("import sys, chunkpilot.pipeline.graph, chunkpilot.pipeline.rules; "
            "assert 'distributed' not in sys.modules and 'zarr' not in sys.modules, 'impure'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.filterwarnings("ignore:Increasing number of chunks:dask.array.core.PerformanceWarning")
def test_a_contractions_block_products_grow_as_every_row_block_meets_every_other():
    """The analysis graphs of x @ x.T: its matmul layer runs n * n * m block products on
    n x m input chunks (exponents 2 and 1); elementwise work has no block products."""
    spec, work = ArraySpec((4096, 2048), "float64"), WorkSpec(2)
    builds = analysis_builds(spec, work)
    an = analysis_from(builds, [(_profile(lambda y: (y @ y.T).sum(), s, c), ())
                                for s, c in builds])
    assert an.units is not None and an.units.exponents == pytest.approx((2.0, 1.0))
    n, m = 4096 // 512, 2048 // 512
    assert an.units.built(spec.shape, (512, 512)) == n * n * m
    a, b = an.chunk  # the whole array's analysis graph
    assert an.graph.contraction_tasks == math.ceil(4096 / a) ** 2 * math.ceil(2048 / b)
    plain = analysis_from(builds, [(_profile(lambda y: (y + 1).sum(), s, c), ())
                                   for s, c in builds])
    assert plain.units is None and plain.graph.contraction_tasks == 0


def test_a_task_based_rechunk_names_what_it_gathers_into():
    """``x.rechunk({0: -1, 1: 50})``: axis 0 whole, axis 1 in 50s; the model takes that as the
    rechunk's target (``core.gather``). No rechunk, or a peer-to-peer one: no target."""
    from chunkpilot.core.gather import GatherTarget
    from chunkpilot.pipeline.model import gather_target

    series = _profile(lambda x: x.rechunk({0: -1, 1: 50}).std(axis=0))
    assert gather_target(series) == GatherTarget((0,), ((1, 50),))
    assert gather_target(_profile(lambda x: x * 2)) is None
    p2p = dataclasses.replace(series, p2p_layers=("rechunk-p2p",))
    assert gather_target(p2p) is None


def test_oom_hint_names_the_step_whose_block_outgrows_memory():
    from chunkpilot.pipeline.findings import oom_hint

    x = da.zeros((4096, 4096), chunks=(1024, 4096))
    gram = profile_graph(layer_records((x.T @ x).__dask_graph__()), x.name)
    assert gram.contraction_bytes == 4096 * 4096 * 8  # the (4096, 4096) partial product
    assert "a partial product of 128.00 MiB from matmul" in oom_hint(gram, 2**20, 200 * 2**20)
    assert oom_hint(gram, 2**20, 1024 * 2**20) is None  # under half the limit: not the cause
    widen = profile_graph(layer_records(((x[:, :, None] * da.ones(8)).sum()).__dask_graph__()),
                          x.name)
    assert widen.blowup == 8
    assert oom_hint(widen, 64 * 2**20, 512 * 2**20) == (
        "The graph makes mul's intermediate chunks, 8x the input chunk (512.00 MiB at these), "
        "against a 512.00 MiB memory limit per worker: that step, not the input chunks, ran "
        "out of memory. Split an axis it keeps whole (fewer keep_whole= axes), change that "
        "step, or give workers more memory.")
    assert oom_hint(widen, 2**20, 512 * 2**20) is None  # 8 MiB: not what ran out
    plus = profile_graph(layer_records((x + 1).__dask_graph__()), x.name)
    assert oom_hint(plus, 2**30, 2**30) is None  # no blow-up: the input itself is the cause
