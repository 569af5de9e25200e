"""``cluster.identify``: a scheduler address is asked who answers, within a bounded time."""

from __future__ import annotations

import socket
import threading

import pytest
from distributed import LocalCluster

from chunkpilot.cluster.connect import connect
from chunkpilot.cluster.identify import identify
from chunkpilot.commands.cluster_watch import fetch
from chunkpilot.errors import SchedulerError


@pytest.fixture
def silent_port():
    """A port that accepts connections and never says a word (a non-dask server)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()


def test_a_port_that_never_speaks_dask_is_a_clear_error_not_a_hang(silent_port):
    """distributed's Client waited until the peer hung up (555 s on a dashboard port)."""
    with pytest.raises(SchedulerError, match="no dask answer within 1 s.*8786"), \
            connect(f"tcp://127.0.0.1:{silent_port}", timeout_s=1):
        pass


def test_watch_on_a_port_that_never_speaks_dask_says_so_too(silent_port):
    # before: "no answer within 1 s (TimeoutError)", where advise and tune said what listens
    with pytest.raises(SchedulerError, match="something else listens there"):
        fetch(f"tcp://127.0.0.1:{silent_port}", timeout_s=1)


@pytest.mark.cluster
def test_a_scheduler_is_identified_and_a_worker_refused():
    with LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="512MiB",
                      host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster:
        assert identify(cluster.scheduler_address, 10)["type"] == "Scheduler"
        worker = next(iter(cluster.scheduler.workers))
        with pytest.raises(SchedulerError, match="Got a Worker.*not a worker"):
            identify(worker, 10)


@pytest.mark.parametrize("scheme", ["ws", "tls"])
def test_a_tcp_scheduler_asked_for_with_ws_or_tls_is_told_to_use_tcp(scheme, caplog):
    """Hunt 14: ``watch ws://127.0.0.1:8786`` (a tcp scheduler) said "a dashboard?" only;
    and the scheduler logged a 5 EiB allocation error per attempt (it read the HTTP upgrade
    as a frame length): the scheduler's own greeting tells first, nothing is sent."""
    import logging

    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, \
            caplog.at_level(logging.WARNING, logger="distributed"):
        where = cluster.scheduler_address.removeprefix("tcp://")
        with pytest.raises(SchedulerError, match=rf"speaks tcp \(dask.s default\) on that "
                                                 rf"port: use tcp://{where}"):
            identify(f"{scheme}://{where}", 2)
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
