"""Misusing the Python API raises ChunkpilotError subclasses (issue 17, item 7), never
AttributeError / TypeError / IsADirectoryError / RuntimeError from deep inside."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import pytest
from distributed import Client, LocalCluster

import chunkpilot
from chunkpilot.errors import (
    ChunkpilotError,
    InvalidArgumentTypeError,
    OutputPathError,
    SchedulerError,
    UsageError,
)

X = da.zeros((256, 256), chunks=64)


@pytest.fixture(scope="module")
def closed_client():
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                           dashboard_address="127.0.0.1:0")
    client = Client(cluster, set_as_default=False)
    client.close()
    cluster.close()
    return client


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster, set_as_default=False) as c:
        yield c


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [(lambda: chunkpilot.watch(None), InvalidArgumentTypeError, "distributed.Client. Got NoneType"),
     (lambda: chunkpilot.watch("tcp://127.0.0.1:8786"), InvalidArgumentTypeError, "Got str"),
     (lambda: chunkpilot.advise(X, keep_whole=0.5), InvalidArgumentTypeError, "keep_whole"),
     (lambda: chunkpilot.advise(X, keep_whole=[0.5], scheduler="threads"),
      InvalidArgumentTypeError, "keep_whole as an axis number"),
     (lambda: chunkpilot.advise(X, keep_whole=True, scheduler="threads"),
      InvalidArgumentTypeError, "keep_whole"),
     (lambda: chunkpilot.advise(X, drop_axis=1.0, scheduler="threads"),
      InvalidArgumentTypeError, "drop_axis"),
     (lambda: chunkpilot.advise(X, client="tcp://127.0.0.1:1"), InvalidArgumentTypeError,
      "distributed.Client. Got str"),
     (lambda: chunkpilot.tune(X, client=object()), InvalidArgumentTypeError, "Got object"),
     (lambda: chunkpilot.check(X, chunks=True), InvalidArgumentTypeError, "chunks as an int"),
     (lambda: chunkpilot.tune(X, report=3), InvalidArgumentTypeError, "report as a file path")],
    ids=["watch-none", "watch-address", "keep-whole-fraction", "keep-whole-list-of-fraction",
         "keep-whole-bool", "drop-axis-float", "client-address-string", "client-object",
         "check-chunks-bool", "report-int"])
def test_misuse_raises_chunkpilot_errors(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    "call",
    [lambda c: chunkpilot.watch(c), lambda c: chunkpilot.tune(X, client=c),
     lambda c: chunkpilot.advise(X, client=c), lambda c: chunkpilot.check(X, client=c)],
    ids=["watch", "tune", "advise", "check"])
def test_a_closed_client_is_a_scheduler_error(call, closed_client) -> None:
    with pytest.raises(SchedulerError, match="running distributed.Client.*'closed'"):
        call(closed_client)


def test_watch_results_before_the_block_ends_and_report_to_a_directory(client, tmp_path: Path
                                                                       ) -> None:
    with chunkpilot.watch(client) as w:
        with pytest.raises(UsageError, match="still open"):
            w.diagnosis  # noqa: B018
        with pytest.raises(UsageError, match="still open"):
            w.report(tmp_path / "r.html")
        client.submit(sum, [1, 2]).result()
    with pytest.raises(OutputPathError, match="existing directory"):
        w.report(tmp_path)
    assert isinstance(UsageError("x"), (ChunkpilotError, RuntimeError))
