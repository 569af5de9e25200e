"""The distributed overhead probe with every worker thread's core busy, on a real
2-worker LocalCluster."""

from __future__ import annotations

import json
import threading

import pytest

from chunkpilot.cluster.connect import local_cluster
from chunkpilot.measure import busy
from chunkpilot.measure.busy import BUSY_SETUP, BUSY_THREAD, probe_with_cores_busy
from chunkpilot.measure.overhead import measure_scheduler
from chunkpilot.measure.probe_history import FILE_NAME, ProbeHistory
from chunkpilot.types import Resources

pytestmark = [pytest.mark.cluster, pytest.mark.timing]

RES = Resources(2, 1, 512 * 2**20, "local")


def _busy_threads() -> int:
    return sum(t.name == BUSY_THREAD and t.is_alive() for t in threading.enumerate())


def test_each_worker_computes_on_every_thread_while_probed_and_stops_after(monkeypatch):
    """The probe runs while one busy loop per worker thread computes beside it (not as a
    dask task: the probe's tasks find the worker's threads free), and no loop outlives it,
    also when the probe fails."""
    seen: list[dict[str, int]] = []

    def probe(client, **kwargs):  # the real probe, after counting the busy loops on every worker
        seen.append(client.run(_busy_threads))
        return real(client, **kwargs)

    real = busy.probe_overhead
    monkeypatch.setattr(busy, "probe_overhead", probe)
    with local_cluster(RES) as client:
        seconds = probe_with_cores_busy(client)
        after = client.run(_busy_threads)

        def broken(client, **kwargs):
            raise RuntimeError("probe failed")

        monkeypatch.setattr(busy, "probe_overhead", broken)
        with pytest.raises(RuntimeError, match="probe failed"):
            probe_with_cores_busy(client)
        after_failure = client.run(_busy_threads)
    assert list(seen[0].values()) == [1, 1]
    assert seconds > 0
    assert list(after.values()) == [0, 0] and list(after_failure.values()) == [0, 0]


@pytest.mark.beside_others  # where the probe is filed, not what it read
def test_busy_probes_are_pooled_apart_from_idle_ones(tmp_path):
    """Probes of busy workers are their own setup in the probe history: an idle probe of
    the same cluster (recorded before this rule) is never pooled with them."""
    h = ProbeHistory(tmp_path, 2, 86400.0, reuse_s=3600.0)
    with local_cluster(RES) as client:
        probe = measure_scheduler(RES, client, history=h)
    assert probe.measured and probe.overhead_seconds_per_task > 0
    saved = json.loads((tmp_path / FILE_NAME).read_text())
    assert len(saved) == 1 and BUSY_SETUP in next(iter(saved))
