"""watch(): record any computation in a with-block; never swallow its exceptions."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError

import dask.array as da
import distributed
import pytest

from chunkpilot.commands.watch import watch
from chunkpilot.errors import InvalidArgumentTypeError
from tests.report.test_notebook import parse

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module", autouse=True)
def _resource_tracker():
    """Started up front so the leak check does not blame the first test (see test_observe)."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  memory_limit="512MiB", dashboard_address="127.0.0.1:0",
                                  ) as cluster, distributed.Client(cluster) as c:
        yield c


def _collector_threads():
    return [t for t in threading.enumerate() if t.name == "chunkpilot-observe"]


def test_watch_records_and_diagnoses(client, tmp_path):
    x = da.ones((600 * 100,), chunks=100)
    with watch(client) as w:
        total = (x + 1).sum().compute()
    assert total == 2 * 600 * 100
    obs = w.observation
    assert obs is not None
    assert obs.error is None
    assert {wi.nthreads for wi in obs.workers} == {1}
    assert len(obs.workers) == 2
    assert len({t.key for t in obs.tasks if t.action == "compute"}) >= 600
    assert "too_small" in {v.kind for v in w.diagnosis}
    path = w.report(tmp_path / "watched.html")
    assert path.exists()
    assert "too_small" in path.read_text()
    assert not _collector_threads()
    markup = w._repr_html_()  # a notebook shows the same diagnosis and the figures inline
    text = " ".join(" ".join(parse(markup).text).split())
    assert " ".join(w.diagnosis[0].message.split()) in text and "Bokeh" in markup
    with pytest.raises(InvalidArgumentTypeError, match="plan as a Plan"):
        w.report(tmp_path / "x.html", plan={"chunks": (1,)})


def _compute_then_fail():
    da.ones(10, chunks=5).sum().compute()
    return 1 / 0


def test_exceptions_propagate_and_collectors_stop(client):
    with pytest.raises(ZeroDivisionError), watch(client) as w:
        _compute_then_fail()
    assert w.observation is not None
    assert w.observation.error.startswith("ZeroDivisionError")
    assert not _collector_threads()


def _sleepy(block):
    time.sleep(0.5)
    return block


def test_timeout_cancels_the_block(client):
    x = da.ones((40,), chunks=1).map_blocks(_sleepy)  # 10 s on two threads
    with pytest.raises(CancelledError), watch(client, timeout_s=1.0) as w:
        x.sum().compute()
    assert w.observation.timed_out
    assert "failed" in {v.kind for v in w.diagnosis}
    assert client.submit(sum, [1, 2]).result(timeout=60) == 3


def test_diagnosis_needs_a_finished_block(client):
    with watch(client) as w, pytest.raises(RuntimeError, match="still open"):
        assert "still running" in w._repr_html_()
        w.diagnosis  # noqa: B018
