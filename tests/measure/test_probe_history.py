"""Recent overhead probes kept on disk and pooled: real files in tmp_path, a real probe."""

from __future__ import annotations

import json
import time

import pytest

from chunkpilot.measure.overhead import measure_scheduler
from chunkpilot.measure.probe_history import (
    FILE_NAME,
    ProbeHistory,
    recall_probes,
    remember_probe,
    setup_key,
)
from chunkpilot.types import Resources

DAY = 86400.0


def test_probes_of_one_setup_pool_and_others_stay_apart(tmp_path):
    h = ProbeHistory(tmp_path / "cache", 3, DAY)
    a, b = setup_key("threads", 2), setup_key("threads", 4)
    assert a != b and "dask " in a and "python " in a
    got = [remember_probe(h, a, s, now_unix_s=t) for t, s in enumerate((1e-4, 4e-4, 2e-4, 9e-4))]
    assert [p.probes for p in got] == [1, 2, 3, 3]
    assert got[-1].seconds_per_task == 4e-4 and got[-1].this_run_seconds_per_task == 9e-4
    other = remember_probe(h, b, 7e-4, now_unix_s=5)
    assert other.probes == 1 and other.seconds_per_task == 7e-4
    saved = json.loads((tmp_path / "cache" / FILE_NAME).read_text())
    assert [r["seconds_per_task"] for r in saved[a]] == [4e-4, 2e-4, 9e-4]


def test_old_probes_are_forgotten(tmp_path):
    h = ProbeHistory(tmp_path, 5, 100.0)
    remember_probe(h, "k", 9e-4, now_unix_s=0)
    later = remember_probe(h, "k", 1e-4, now_unix_s=500)
    assert later.probes == 1 and later.seconds_per_task == 1e-4
    assert len(json.loads((tmp_path / FILE_NAME).read_text())["k"]) == 1


def test_a_corrupt_history_is_started_afresh(tmp_path):
    (tmp_path / FILE_NAME).write_text("{not json")
    h = ProbeHistory(tmp_path, 5, DAY)
    assert remember_probe(h, "k", 2e-4, now_unix_s=1).probes == 1
    assert json.loads((tmp_path / FILE_NAME).read_text())["k"][0]["seconds_per_task"] == 2e-4


def test_a_cache_path_that_cannot_be_a_directory_still_plans(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    p = remember_probe(ProbeHistory(blocker / "sub", 5, DAY), "k", 3e-4, now_unix_s=1)
    assert (p.probes, p.seconds_per_task) == (1, 3e-4)


def test_keep_one_writes_nothing(tmp_path):
    p = remember_probe(ProbeHistory(tmp_path, 1, DAY), "k", 3e-4)
    assert p.probes == 1 and not (tmp_path / FILE_NAME).exists()


def test_real_threaded_probes_are_pooled_across_runs(tmp_path):
    h = ProbeHistory(tmp_path, 5, DAY)
    res = Resources(1, 2, 2**30, "threads")
    first = measure_scheduler(res, history=h)
    second = measure_scheduler(res, history=h)
    assert first.pooled.probes == 1 and second.pooled.probes == 2
    this_runs = sorted(p.pooled.this_run_seconds_per_task for p in (first, second))
    assert second.overhead_seconds_per_task == pytest.approx(sum(this_runs) / 2)
    saved = json.loads((tmp_path / FILE_NAME).read_text())
    assert [len(v) for v in saved.values()] == [2]


def _fill(path, key: str, seconds: list[float], now: float) -> None:
    """A history file as earlier runs leave it: one record a minute, the newest last."""
    n = len(seconds)
    records = [{"seconds_per_task": s, "at_unix_s": now - 60 * (n - i)}
               for i, s in enumerate(seconds)]
    path.mkdir(parents=True, exist_ok=True)
    (path / FILE_NAME).write_text(json.dumps({key: records}))


def test_a_full_fresh_history_is_reused_and_a_stale_one_is_not(tmp_path):
    key = setup_key("threads", 2)
    _fill(tmp_path, key, [1e-4, 5e-4, 2e-4], now=10_000.0)
    fresh = ProbeHistory(tmp_path, 3, DAY, reuse_s=300.0)
    got = recall_probes(fresh, key, now_unix_s=10_000.0)
    assert got is not None and got.reused and (got.seconds_per_task, got.probes) == (2e-4, 3)
    assert recall_probes(fresh, key, now_unix_s=10_000.0 + 300.0) is None  # newest 6 min old
    assert recall_probes(fresh, setup_key("threads", 4), now_unix_s=10_000.0) is None
    assert recall_probes(ProbeHistory(tmp_path, 4, DAY, reuse_s=300.0), key,
                         now_unix_s=10_000.0) is None  # 3 of 4 kept
    assert recall_probes(ProbeHistory(tmp_path, 3, DAY), key, now_unix_s=10_000.0) is None


def test_real_threaded_probes_stop_once_the_pool_is_full_and_fresh(tmp_path):
    res = Resources(1, 2, 2**30, "threads")
    key = setup_key("threads", 2)
    _fill(tmp_path, key, [1e-4, 3e-4], now=time.time())
    h = ProbeHistory(tmp_path, 3, DAY, reuse_s=3600.0)
    third = measure_scheduler(res, history=h)  # fills the pool: a real probe
    assert third.pooled.probes == 3 and not third.pooled.reused
    saved = (tmp_path / FILE_NAME).read_text()
    fourth = measure_scheduler(res, history=h)  # reuses it: no probe, nothing recorded
    assert fourth.pooled.reused and fourth.measured
    assert fourth.overhead_seconds_per_task == third.overhead_seconds_per_task
    assert (tmp_path / FILE_NAME).read_text() == saved


def test_an_advise_says_it_reused_the_pool(tmp_path):
    import dask
    import numpy as np

    import chunkpilot

    key = setup_key("threads", 2)
    _fill(tmp_path, key, [1e-4, 4e-4, 2e-4, 3e-4, 5e-4], now=time.time())
    with dask.config.set({"chunkpilot.probe.cache-dir": str(tmp_path),
                          "chunkpilot.probe.reuse-within": "1h"}):
        plan = chunkpilot.advise(np.ones((512, 512)), np.sin, scheduler="threads",
                                 threads_per_worker=2)
    assert plan.to_dict()["measured"]["overhead_seconds_per_task"] == pytest.approx(3e-4)
    assert any("not probed again" in n and "5 most recent" in n for n in plan.notes), plan.notes
