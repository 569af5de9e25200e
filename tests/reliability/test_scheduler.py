"""The scheduler going away mid-tune and protocols chunkpilot cannot speak (issue 17, item 5):
one clear line, exit 2, the trials finished so far kept in the JSON and the report. Real
``dask scheduler`` / ``dask worker`` processes on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import chunkpilot
from chunkpilot.cluster.connect import local_cluster, quiet_logs
from chunkpilot.commands.outputs import is_chunkpilot_report
from chunkpilot.errors import SchedulerError, UnsupportedProtocolError
from chunkpilot.types import Resources
from tests.helpers.processes import wait_for as _wait_for
from tests.reliability.conftest import CLI, HANG_IN_SECOND_TRIAL, SAMPLE_SLEEP_ENV, in_second_trial


@pytest.mark.parametrize(
    ("address", "match"),
    [("tls://127.0.0.1:1", "TLS credentials"), ("wss://127.0.0.1:1", "TLS credentials"),
     ("ucx://127.0.0.1:1", "distributed-ucxx"), ("udp://127.0.0.1:1", "Got udp://"),
     ("inproc://127.0.0.1:1", "Got inproc://")])
@pytest.mark.parametrize("verb", ["advise", "tune", "check"])
def test_unsupported_protocols_are_one_clear_error(verb, address, match) -> None:
    import dask.array as da

    x = da.zeros((64, 64), chunks=32)
    with pytest.raises(UnsupportedProtocolError, match=match):
        getattr(chunkpilot, verb)(x, scheduler=address)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.cluster
@pytest.mark.slow
def test_scheduler_killed_mid_tune(tmp_path: Path, store: Path) -> None:
    dask_bin = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    markers, tmp, cwd = tmp_path / "markers", tmp_path / "tmp", tmp_path / "cwd"
    for d in (markers, tmp, cwd):
        d.mkdir()
    funcs = tmp_path / "slowfuncs.py"
    funcs.write_text(HANG_IN_SECOND_TRIAL)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "CHUNKPILOT_TEST_MARKERS": str(markers),
           SAMPLE_SLEEP_ENV: "0"}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        sched = subprocess.Popen([dask_bin, "scheduler", "--host", "127.0.0.1", "--port",
                                  str(port), "--no-dashboard"], env=env, cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(sched)
        procs.append(subprocess.Popen([dask_bin, "worker", address, "--nthreads", "1",
                                       "--memory-limit", "1GiB", "--no-dashboard",
                                       "--local-directory", str(tmp_path / "w")], env=env,
                                      cwd=tmp_path, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        report = tmp_path / "report.html"
        tune = subprocess.Popen(
            [*CLI, "tune", str(store), "--func", f"{funcs}:slow", "--scheduler", address,
             "--max-trials", "5", "--json", "--report", str(report)],
            env={**env, "TMPDIR": str(tmp)}, cwd=cwd, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        procs.append(tune)  # type: ignore[arg-type]
        # kill the scheduler during the second trial (the first one has finished)
        assert _wait_for(lambda: in_second_trial(markers) or tune.poll() is not None, 300), \
            "no second trial"
        assert tune.poll() is None, tune.communicate()
        sched.send_signal(signal.SIGKILL)
        out, err = tune.communicate(timeout=120)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp_path / "w", ignore_errors=True)
    assert tune.returncode == 2, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("chunkpilot: error: "), err[-3000:]
    assert "tcp://127.0.0.1" in lines[0] and "reachable" in lines[0]
    doc = json.loads(out)
    assert doc["error"] and doc["report"] == str(report)
    assert doc["trials"], doc  # the trials finished before the scheduler died are kept
    assert is_chunkpilot_report(report)
    assert doc["trials"][0]["label"] in report.read_text()
    assert sorted(p.name for p in tmp.iterdir()) == []


def test_a_closed_scheduler_connection_in_the_api() -> None:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address="127.0.0.1:0") as cluster:
        client = Client(cluster, set_as_default=False)
        client.close()
        with pytest.raises(SchedulerError, match="closed"):
            chunkpilot.tune(__import__("dask.array").array.zeros((64, 64), chunks=32),
                            client=client)


@pytest.mark.cluster
def test_local_cluster_quiets_logs_only_while_it_lives() -> None:
    names = ("distributed.scheduler", "distributed.nanny", "asyncio", "distributed.client")
    before = {n: logging.getLogger(n).level for n in names}
    with local_cluster(Resources(1, 1, 512 * 2**20, "local")) as client:
        assert client.submit(sum, [1, 2]).result() == 3
        assert all(logging.getLogger(n).getEffectiveLevel() >= logging.CRITICAL for n in names)
    assert {n: logging.getLogger(n).level for n in names} == before
    with quiet_logs(("chunkpilot.test",)):
        assert logging.getLogger("chunkpilot.test").level == logging.CRITICAL
    assert logging.getLogger("chunkpilot.test").level == logging.NOTSET
