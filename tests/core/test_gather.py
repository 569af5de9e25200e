"""What an in-graph rechunk holds while it gathers input chunks (``core.gather``), from
dask's own rechunk plan; and the task peak the planner then prices."""

from __future__ import annotations

import dataclasses
import math

import pytest

from chunkpilot.core.evaluate import evaluate
from chunkpilot.core.gather import GatherTarget, gather, gather_note, peak_basis_bytes
from chunkpilot.core.model import Sample, fit_cost_model
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20
#: The benchmark's rechunk_transpose: a (time, y, x) float32 cube of map chunks made into
#: time series, time whole and the map cut in 64 x 64 tiles.
CUBE = (128, 512, 512)
TO_SERIES = GatherTarget((0,), ((1, 64), (2, 64)))


@pytest.mark.parametrize("steps", [1, 4, 22])
def test_few_time_steps_a_chunk_gather_through_a_whole_array_chunk(steps):
    """dask rechunks (steps, 512, 512) -> (128, 64, 64) in two stages through one chunk of
    the whole cube: its 128 MiB of inputs and their 128 MiB copy (the workers held 256 MiB)."""
    g = gather(CUBE, (steps, 512, 512), TO_SERIES, 4)
    assert g is not None
    assert g.stages == ((128, 512, 512), (128, 64, 64))
    assert g.stage_bytes == 256 * MiB and g.regions == 1
    assert g.held_bytes(threads=2) == 256 * MiB  # one region: the threads share it


def test_a_stage_made_in_halves_holds_one_half_waiting_while_it_builds_the_other():
    """As float64 the cube is 256 MiB, above dask's 128 MiB chunk-size limit: dask goes
    through two 64-step halves, and the first half waits (for the tiles, which need both)
    while the second's inputs and copy are built: 3 x 128 MiB (a threaded process peaked
    at 384 MiB)."""
    g = gather(CUBE, (1, 512, 512), TO_SERIES, 8)
    assert g is not None and g.stages == ((64, 512, 512), (128, 64, 64))
    assert g.stage_bytes == 384 * MiB


@pytest.mark.parametrize("steps", [32, 64])
def test_more_time_steps_a_chunk_gather_in_one_stage(steps):
    """One stage: a series tile needs every input chunk along time (the whole cube) and is a
    2 MiB copy (observed 138-154 MiB)."""
    g = gather(CUBE, (steps, 512, 512), TO_SERIES, 4)
    assert g is not None and g.stages == ((128, 64, 64),)
    assert g.stage_bytes == 130 * MiB


@pytest.mark.parametrize("chunk", [(128, 512, 512), (128, 256, 512), (128, 64, 64)])
def test_chunks_already_whole_along_time_are_only_cut(chunk):
    assert gather(CUBE, chunk, TO_SERIES, 4) is None


def test_separate_regions_are_held_once_per_thread_assembling_one():
    """Tiles of 256 x 256 map pixels need different inputs: four regions, one per thread
    at a time."""
    g = gather(CUBE, (16, 256, 256), TO_SERIES, 4)
    assert g is not None and g.regions == 4
    assert g.held_bytes(threads=1) == g.stage_bytes
    assert g.held_bytes(threads=2) == 2 * g.stage_bytes
    assert g.held_bytes(threads=8) == 4 * g.stage_bytes


def test_a_terabyte_cube_of_map_chunks_cannot_be_gathered_whole():
    """100 000 maps of 4096 x 4096 float32 (6.1 TiB) as one map a chunk: every series tile
    overlaps every map, so dask's plan holds tens of GiB; 100-step chunks of 64 x 64 pixels
    hold one series tile's 1.5 GiB and its copy."""
    big = (100_000, 4096, 4096)
    maps = gather(big, (1, 4096, 4096), TO_SERIES, 4)
    assert maps is not None and maps.stage_bytes > 32 * 2**30
    tiles = gather(big, (100, 64, 64), TO_SERIES, 4)
    assert tiles is not None and tiles.stage_bytes == 2 * 100_000 * 64 * 64 * 4


def test_the_target_round_trips_and_names_its_chunks():
    assert GatherTarget.from_dict(TO_SERIES.to_dict()) == TO_SERIES
    assert GatherTarget.from_dict(None) is None
    assert TO_SERIES.chunks(CUBE, (4, 512, 512)) == (128, 64, 64)
    assert GatherTarget((1,)).chunks((10, 20), (5, 4)) == (5, 20)


def test_a_tasks_peak_is_at_least_its_threads_share_of_the_gather():
    """The samples (a 3-chunk sub-array) said ~13 MiB a task; the planner prices the chunk's
    share of the 256 MiB the rechunk holds, and only where it gathers."""
    samples = [Sample(b, (1,), 0.01 * b / MiB, 3 * b + 10 * MiB) for b in (MiB, 4 * MiB, 16 * MiB)]
    plain = fit_cost_model(samples, overhead_seconds_per_task=0.0)
    held = dataclasses.replace(plain, gather=TO_SERIES)
    spec, work = ArraySpec(CUBE, "float32"), WorkSpec(3)
    res = Resources(1, 2, 64 * 2**30, "threads")
    maps = (1, 512, 512)
    assert evaluate(maps, spec, work, res, plain).peak_bytes_per_task == 13 * MiB
    e = evaluate(maps, spec, work, res, held)
    assert e.peak_bytes_per_task == 128 * MiB  # half of 256 MiB on each of 2 threads
    assert e.peak_bytes_per_worker == 2 * (128 * MiB + MiB)
    whole = (128, 256, 512)  # time already whole: the rechunk only cuts
    assert evaluate(whole, spec, work, res, held) == evaluate(whole, spec, work, res, plain)
    note = gather_note(gather(CUBE, maps, TO_SERIES, 4), 2)
    assert "2 stage(s) (128x512x512 then 128x64x64" in note and "256.00 MiB" in note
    assert "modelled" in note


def test_no_rechunk_gathers_nothing():
    assert gather(CUBE, (1, 512, 512), None, 4) is None


#: xarray's polyfit along time on a (730, 128, 256) float32 cube: time made whole.
TREND = (730, 128, 256)
TIME_WHOLE = GatherTarget((0,))


def test_the_peak_grows_with_the_chunk_the_rechunk_makes_not_only_the_input_chunk():
    """(73, 64, 64) input chunks are gathered into (730, 64, 64) ones, 10x: the work after
    the rechunk runs on those; with time already whole the rechunk is a no-op."""
    split, whole = (73, 64, 64), (730, 64, 64)
    assert peak_basis_bytes(TIME_WHOLE, TREND, split, 73 * 64 * 64 * 4, 4) == 730 * 64 * 64 * 4
    assert peak_basis_bytes(TIME_WHOLE, TREND, whole, 730 * 64 * 64 * 4, 4) == 730 * 64 * 64 * 4
    assert peak_basis_bytes(None, TREND, split, 1234, 4) == 1234
    # a target smaller than the input chunk (map tiles) leaves the input chunk's bytes
    assert peak_basis_bytes(TO_SERIES, CUBE, (128, 512, 512), 128 * MiB, 4) == 128 * MiB


def test_samples_peaking_on_gathered_chunks_price_one_whole_chunk_at_its_own_bytes():
    """Hunt 19: the samples (input chunks 10x smaller than the chunk the rechunk gathered)
    peaked at 28x the input chunk; fitted against the input chunk, dask auto's one 91 MiB
    chunk (the rechunk a no-op there) was priced at 2.6 GiB and refused, where the run held
    ~200 MiB. Against the gathered chunk the samples say 2.8x: auto costs 2.8 x 91 MiB."""
    spec, work = ArraySpec(TREND, "float32"), WorkSpec(3)
    res = Resources(1, 2, 2 * 2**30, "threads")
    samples = []
    for rows in (73, 146):  # 10 and 5 input chunks gathered into a (730, 64, 64) chunk
        chunk_bytes = rows * 64 * 64 * 4
        gathered = 730 * 64 * 64 * 4
        samples.append(dataclasses.replace(
            Sample(chunk_bytes, (rows, 64, 64), 0.01, int(2.8 * gathered)),
            peak_basis_bytes=gathered))
    model = dataclasses.replace(fit_cost_model(samples, overhead_seconds_per_task=0.0),
                                gather=TIME_WHOLE)
    auto = evaluate(TREND, spec, work, res, model)
    assert auto.peak_bytes_per_task == pytest.approx(2.8 * math.prod(TREND) * 4, rel=0.01)
    assert auto.fits_memory
    tile = evaluate((73, 64, 64), spec, work, res, model)  # gathers 10 into 730 x 64 x 64
    assert tile.peak_bytes_per_task >= 2.8 * 730 * 64 * 64 * 4 * 0.99
