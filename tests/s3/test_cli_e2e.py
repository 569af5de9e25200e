"""End to end (issue 14): ``chunkpilot advise s3://... --storage-option endpoint_url=...
--func ...`` in a subprocess against the local S3 server; the secret appears nowhere in its
output, JSON or report; the advised chunks grow with the store's latency; no port stays open."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chunkpilot.core.replay import replan
from chunkpilot.measure.store import measure_store
from chunkpilot.report.html import write_report
from chunkpilot.sources.describe import describe
from tests.helpers.cli_runs import CLI
from tests.helpers.delay_proxy import DelayProxy
from tests.helpers.s3server import FAKE_KEY, FAKE_SECRET, port_is_open, wait_port_closed

# one sandboxed advise (~20-40 s on a shared 2-core machine); it runs beside other tests (the
# first test asserts no measured time), the latency test re-probes the store alone
pytestmark = [pytest.mark.slow, pytest.mark.timing]

INJECTED = (0.0, 0.02, 0.08)
#: 8 x 8 storage objects of 16 KiB (zstd): small objects, as on many real buckets.
SHAPE, CHUNKS = (512, 512), (64, 64)
FUNC = "import numpy as np\ndef work(block):\n    return np.log1p(np.abs(block)) * 2.0\n"


@pytest.fixture(scope="module")
def big_url(s3_sample, tmp_path_factory) -> str:
    import zarr

    path = tmp_path_factory.mktemp("big") / "big.zarr"
    z = zarr.create_array(str(path), shape=SHAPE, chunks=CHUNKS, dtype="float32", zarr_format=3)
    z[...] = np.add.outer(np.sin(np.arange(SHAPE[0]) / 9.0), np.cos(np.arange(SHAPE[1]) / 7.0))
    return s3_sample.upload(path, "big.zarr")


@pytest.fixture(scope="module")
def ends(delayed_s3):
    """The bucket 0, 20 and 80 ms away (one delaying proxy each, stopped with the module)."""
    return [delayed_s3(lat) for lat in INJECTED]


@pytest.fixture(scope="module")
def advised(big_url, ends, tmp_path_factory) -> dict[str, Any]:
    """``chunkpilot advise s3://... --storage-option ... --func ... --json`` (0-ms proxy)."""
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "funcs.py").write_text(FUNC)
    args = ["advise", big_url, "--func", f"{tmp / 'funcs.py'}:work", "--scheduler", "threads",
            "--workers", "1", "--threads-per-worker", "2",
            "--storage-option", f"endpoint_url={ends[0].endpoint_url}",
            "--storage-option", f"key={FAKE_KEY}", "--storage-option", f"secret={FAKE_SECRET}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    jsn = subprocess.run(CLI + [*args, "--json"], capture_output=True, text=True, env=env,
                         timeout=600)
    return {"json": jsn, "tmp": tmp}


@pytest.mark.beside_others  # what the run says and keeps, not how fast it measured
def test_advise_s3_url_end_to_end(advised, big_url):
    jsn = advised["json"]
    assert jsn.returncode == 0, jsn.stderr[-3000:]
    doc = json.loads(jsn.stdout)
    assert doc["source"] == f"zarr:{big_url}" and doc["storage_chunks"] == list(CHUNKS)
    assert all(c % s == 0 or c == n
               for c, s, n in zip(doc["chunk_shape"], CHUNKS, SHAPE, strict=True))
    store = doc["store"]
    assert store["latency_seconds"] > 0 and store["requests_measured"] > 0
    assert doc["inputs"]["measurements"]["store"] == store
    said = "\n".join(doc["explanation"])
    assert "Reads are MODELLED from a store probe" in said
    assert f"Samples were cut from {big_url}" in said
    # every client session closed: nothing left to complain at exit
    assert "Unclosed" not in jsn.stderr and "Traceback" not in jsn.stderr, jsn.stderr[-2000:]


@pytest.mark.beside_others
def test_secret_appears_nowhere(advised):
    """Not in stdout, stderr or the JSON, not in the HTML report of the run's plan."""
    r = advised["json"]
    assert FAKE_SECRET not in r.stdout + r.stderr and FAKE_KEY not in r.stdout + r.stderr
    doc = json.loads(advised["json"].stdout)
    plan = dataclasses.replace(replan(doc["inputs"]), notes=tuple(doc["notes"]))
    report = write_report(advised["tmp"] / "report.html", title="s3", plan=plan, trials=(),
                          notes=doc["explanation"])
    html = Path(report).read_text()
    assert "store probe" in html and FAKE_SECRET not in html and FAKE_KEY not in html


def _plans(inputs: dict[str, Any], url: str, ends: list[Any], reprobe_first: bool
           ) -> list[tuple[tuple[int, ...], float, float]]:
    """(chunks, latency, overlap of 16) replanned with the store probed at each end."""
    out = []
    for end in ends:
        if end is not ends[0] or reprobe_first:
            ref = describe(url, storage_options=end.storage_options)[1]
            inputs["measurements"]["store"] = measure_store(ref).to_dict()
        m = inputs["measurements"]["store"]
        eff16 = next(p["effective_concurrency"] for p in m["concurrency"]
                     if p["requests_in_flight"] == 16)
        out.append((replan(inputs).chunk_shape, round(m["latency_seconds"], 3), round(eff16, 1)))
    return out


def test_advised_chunks_grow_with_latency(advised, big_url, ends):
    """The advise above (0 ms), then its measurements with the store probed 20 and 80 ms
    away: the function samples time the function alone (each block is read before timing),
    so the store model is all that latency changes; replanning with each probe is what
    advise does at that latency. Bytes per chunk never shrink and grow from 0 to 80 ms.
    Under load a probe can misjudge how many requests overlap: one more round of probes is
    allowed, as for the latency itself (test_store_probe.py)."""
    inputs = json.loads(advised["json"].stdout)["inputs"]
    attempts = []
    for again in (False, True):
        plans = _plans(inputs, big_url, ends, reprobe_first=again)
        attempts.append(plans)
        sizes = [math.prod(shape) for shape, _, _ in plans]
        if sizes == sorted(sizes) and sizes[-1] > sizes[0]:
            break
    else:
        pytest.fail(f"chunks (latency s, overlap of 16) did not grow with latency: {attempts}")


def test_no_port_left_open(s3_sample, s3_server):
    """A proxy used by the probe and the readers closes its port, connections included."""
    proxy = DelayProxy(s3_server.port, 0.0).start()
    port = proxy.port
    try:
        opts = dict(s3_sample.storage_options, endpoint_url=proxy.url)
        ref = describe(s3_sample.zarr_url, storage_options=opts)[1]
        measure_store(ref)
        assert port_is_open(port)
    finally:
        proxy.stop()
    assert wait_port_closed(port)
