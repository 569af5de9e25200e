"""The store probe against a real S3 server behind a delaying proxy (issue 14, items 2 and 4):
latency measured within +-30 %, the probe on a worker, and ``check`` flagging storage objects
too small for the store. (Chunks growing with latency: ``test_cli_e2e.py``.)"""

from __future__ import annotations

import json

import numpy as np
import pytest
from distributed import Client, LocalCluster

import chunkpilot
from chunkpilot.measure.store import (
    CONCURRENCY_LEVELS,
    CONCURRENCY_REPEATS,
    LATENCY_REQUESTS,
    PROBE_MAX_BYTES,
    STREAM_READS,
    measure_store,
    probe_store,
    probe_store_for,
)
from chunkpilot.sources.describe import describe
from chunkpilot.sources.readers import source_array
from chunkpilot.types import Resources
from tests.helpers import data
from tests.helpers.s3server import FAKE_SECRET

pytestmark = pytest.mark.timing  # measured time or CPU: runs alone (tests/helpers/timing_gate.py)
#: A test here asserting no measured time (or one that load only makes more true).
beside_others = pytest.mark.beside_others

INJECTED = (0.0, 0.02, 0.08)


@pytest.fixture(scope="module")
def ends(delayed_s3):
    """The same bucket 0, 20 and 80 ms away (one proxy each)."""
    return [delayed_s3(lat) for lat in INJECTED]


def _ref(url: str, end) -> dict:
    return describe(url, storage_options=end.storage_options)[1]


def test_probe_measures_the_injected_latency(s3_sample, ends):
    """Latency over the 0-ms baseline is within +-30 % of the proxy's. The baseline is probed
    before and after (their mean cancels a drift of machine load), and on a loaded 2-core
    machine each request pays scheduler wake-ups too, so one more attempt is allowed."""
    attempts = []
    for _ in range(2):
        models = [measure_store(_ref(s3_sample.zarr_url, e)) for e in (*ends, ends[0])]
        base = (models[0].latency_seconds + models[-1].latency_seconds) / 2
        extra = [m.latency_seconds - base for m in models[1:-1]]
        attempts.append([round(x, 4) for x in extra])
        if all(abs(x - lat) <= 0.3 * lat for x, lat in zip(extra, INJECTED[1:], strict=True)):
            break
    else:
        pytest.fail(f"latency over baseline {attempts} not within +-30 % of {INJECTED[1:]}")
    for m in models:
        assert m.requests_measured >= 20 and 0 < m.bytes_measured <= PROBE_MAX_BYTES
    # s3fs asks for an object's size before a whole GET: a second round trip, told apart from
    # noise where a trip costs the injected 20-80 ms (at the bare server's ~3 ms it is not)
    assert [m.requests_per_object for m in models[1:-1]] == [2] * len(INJECTED[1:])
    for m in models:
        assert [p.requests_in_flight for p in m.concurrency] == [4, 16]
        assert m.requests_per_task == 10 and m.where == "this process"


@beside_others
def test_probe_over_http(http_sample):
    ref = describe(http_sample.zarr_url)[1]
    m = measure_store(ref)
    assert m.latency_seconds > 0 and m.requests_per_object == 1  # aiohttp: one GET per object
    # the stream's objects, read whole after their ranged read, are the round-trip pairs (no
    # pairs more), and one request alone is the latency phase's: the warm-up and the
    # zarr open's, the latency phase, 3 a streamed object, the concurrency levels' tries
    assert m.requests_measured == 2 + LATENCY_REQUESTS + 3 * STREAM_READS + sum(
        n * (CONCURRENCY_REPEATS + 1) for n in CONCURRENCY_LEVELS)
    ref = describe(http_sample.nc_url)[1]
    m = measure_store(ref)
    assert m.requests_per_task == 1 and m.request_bytes  # h5py reads through fsspec blocks


@pytest.mark.cluster
@beside_others
def test_probe_and_reads_run_on_the_workers(s3_sample):
    ref = describe(s3_sample.zarr_url, storage_options=s3_sample.storage_options)[1]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", memory_limit="1GiB") as cluster, \
            Client(cluster, set_as_default=False) as client:
        worker = next(iter(client.scheduler_info()["workers"]))
        m = probe_store(ref, client)
        assert m.where == f"worker {worker}"
        # advise's probe: the workers are on this machine, so it probes here (the same
        # network, and no worker importing the store's readers first), by client or address
        res = Resources(1, 1, 2**30, cluster.scheduler_address)
        for given in (client, None):
            assert probe_store_for(ref, res, given).where == "this process, the workers' machine"
        x = source_array(None, ref, (16, 16))  # what a trial computes: workers read the store
        np.testing.assert_array_equal(client.compute(x).result(), data.expected())
        assert FAKE_SECRET not in repr(x.dask)


@beside_others  # a busy machine only adds latency: the 80 ms store stays flagged
def test_check_flags_small_storage_objects(s3_sample, ends):
    report = chunkpilot.check(s3_sample.zarr_url, storage_options=ends[2].storage_options,
                              workers=1, memory_limit="1GiB")
    codes = {p.code for p in report.problems}
    assert "storage_objects_small" in codes
    (p,) = [p for p in report.problems if p.code == "storage_objects_small"]
    assert "zarr v3 with shards" in p.fix and f"inner chunks {data.CHUNKS}" in p.fix
    assert report.store is not None and report.store.latency_seconds > 0.05
    text, doc = "\n".join(report.lines()), json.dumps(report.to_dict())
    assert "Store probed (this process)" in text and '"store": {' in doc
    assert FAKE_SECRET not in text + doc
