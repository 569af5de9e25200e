"""Work after an in-graph rechunk runs on the rechunk's chunks (``core.evaluate.downstream``):
one input chunk of a map-to-time-series pipeline still feeds every thread."""

from __future__ import annotations

import dataclasses
import json

import pytest

from chunkpilot.core.evaluate import downstream, downstream_note, evaluate
from chunkpilot.core.gather import GatherTarget
from chunkpilot.core.model import Sample, fit_cost_model
from chunkpilot.core.plan import make_plan
from chunkpilot.core.replay import replan
from chunkpilot.types import ArraySpec, Resources, WorkSpec

MiB = 2**20
CUBE = (128, 512, 512)
TO_SERIES = GatherTarget((0,), ((1, 64), (2, 64)))
SPEC, WORK = ArraySpec(CUBE, "float32"), WorkSpec(3, keep_whole=(0,))
THREADS = Resources(1, 2, 64 * 2**30, "threads")


def _model(share: float | None, gather: GatherTarget | None = TO_SERIES):
    samples = [Sample(b, (1,), 0.002 * b / MiB, 2 * b, downstream_share=share)
               for b in (MiB, 4 * MiB, 16 * MiB)]
    return dataclasses.replace(fit_cost_model(samples, overhead_seconds_per_task=0.0),
                               gather=gather)


def test_the_rechunk_makes_as_many_chunks_as_its_target_cuts_the_array():
    assert TO_SERIES.count(CUBE, (128, 512, 512)) == 64  # 8 x 8 tiles, time whole
    assert TO_SERIES.count(CUBE, (1, 512, 512)) == 64
    assert GatherTarget((0,)).count(CUBE, (1, 128, 256)) == 4 * 2  # other axes keep theirs


def test_one_input_chunk_shares_its_downstream_work_with_every_thread():
    """128 MiB, 0.256 s measured, 3/4 of it after the rechunk: the read runs on one thread,
    the 64 tiles' work on both. Without the split the whole task is one thread's."""
    one = (128, 512, 512)
    split = evaluate(one, SPEC, WORK, THREADS, _model(0.75))
    plain = evaluate(one, SPEC, WORK, THREADS, _model(None))
    t = 0.002 * 128
    assert plain.wall_seconds == pytest.approx(t + 0.5 * t)  # one task + half a task drain
    read, after_each = 0.25 * t, 0.75 * t / 64
    assert split.wall_seconds == pytest.approx(read + 32 * after_each
                                               + 0.5 * (read + after_each))
    assert split.seconds_per_task == pytest.approx(plain.seconds_per_task)


def test_on_a_cluster_the_work_stays_on_the_workers_holding_input_chunks():
    cluster = Resources(2, 1, 4 * 2**30, "tcp://127.0.0.1:8786")
    one = evaluate((128, 512, 512), SPEC, WORK, cluster, _model(0.75))
    t = 0.002 * 128
    assert one.wall_seconds == pytest.approx(0.25 * t + 64 * 0.75 * t / 64
                                             + 0.5 * (0.25 * t + 0.75 * t / 64))


@pytest.mark.parametrize("gather", [None, TO_SERIES])
def test_nothing_is_split_without_a_rechunk_or_a_measured_share(gather):
    share = 0.75 if gather is None else None
    assert downstream((128, 512, 512), SPEC, _model(share, gather), 128 * MiB)[0] == 0.0
    model = _model(share, gather)
    one = evaluate((128, 512, 512), SPEC, WORK, THREADS, model)
    assert downstream_note(one, SPEC, model) is None


def test_the_share_follows_the_samples_in_log_bytes_and_holds_at_the_ends():
    samples = [Sample(MiB, (1,), 0.01, MiB, downstream_share=0.9),
               Sample(16 * MiB, (1,), 0.1, MiB, downstream_share=0.7)]
    m = fit_cost_model(samples, overhead_seconds_per_task=0.0)
    assert m.downstream_share(4 * MiB) == pytest.approx(0.8)
    assert m.downstream_share(MiB // 4) == pytest.approx(0.9)
    assert m.downstream_share(128 * MiB) == pytest.approx(0.7)
    unsplit = fit_cost_model([Sample(MiB, (1,), 0.01, MiB)], overhead_seconds_per_task=0.0)
    assert unsplit.downstream_share(MiB) == 0.0


def test_the_note_says_how_many_chunks_share_the_work_and_that_it_is_modelled():
    model = _model(0.75)
    note = downstream_note(evaluate((128, 512, 512), SPEC, WORK, THREADS, model), SPEC, model)
    assert note is not None
    assert "75%" in note and "64 chunks the rechunk makes" in note and "1 input" in note
    assert "modelled" in note


def test_the_share_is_stored_with_the_plan_inputs_and_replayed():
    plan = make_plan(SPEC, WORK, THREADS, _model(0.75))
    again = replan(json.loads(json.dumps(plan.to_dict()))["inputs"])
    assert [s.downstream_share for s in again.model.samples] == [0.75] * 3
    assert again.chosen == plan.chosen
