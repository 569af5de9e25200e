"""ClusterWatch on real ``dask scheduler --preload chunkpilot.plugin`` and ``dask worker``
processes: verdicts in the JSON API, the scheduler log, the page in Chromium, the CLI, bounded
memory over 200 computations, an injected error, and the other two ways to switch it on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import dask
import dask.array as da
import distributed
import numpy as np
import pytest
from click.testing import CliRunner

import chunkpilot
from chunkpilot.cli import cli, main
from chunkpilot.cluster.dashboard import NAME
from chunkpilot.commands.cluster_watch import fetch, follow
from chunkpilot.errors import SchedulerError
from chunkpilot.report.figures import MEMORY_COLORS
from tests.helpers.dask_processes import dask_processes

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
#: The verdicts on the scenarios are read from measured task times and memory: the tests
#: reading them run alone (tests/helpers/timing_gate.py), the first of them making them.
timing = pytest.mark.timing

CHROMIUM = "/usr/bin/chromium"
#: Every computation warns (the default skips those under 1 s); keep 40 of them.
ENV = {"DASK_CHUNKPILOT__CLUSTER_WATCH__WARN_MIN_SECONDS": "0",
       "DASK_CHUNKPILOT__CLUSTER_WATCH__MAX_COMPUTATIONS": "40"}


def api(dashboard: str) -> dict:
    with urllib.request.urlopen(f"{dashboard}/chunkpilot/api/v1/computations", timeout=30) as r:
        assert r.headers["Content-Type"] == "application/json"
        return json.loads(r.read())


def newest_after(dashboard: str, seen: set[str], timeout_s: float = 60,
                 since: float = 0.0) -> dict:
    """The first computation the API lists that is not in ``seen`` and started at or after
    ``since`` (the diagnosis comes a heartbeat after the computation ends)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        fresh = [c for c in api(dashboard)["computations"]
                 if c["id"] not in seen and c["started_at"] >= since]
        if fresh:
            return fresh[0]
        time.sleep(0.2)
    raise AssertionError("no new computation appeared in the API")


def run(cluster, client, fn) -> dict:
    """Run ``fn(client)``: the computation it submitted, as the API reports it (the scheduler
    runs on this machine: same clock). What ``fn`` returns (persisted data) is held until the
    diagnosis is out, as a user holds what they persist: the plugin reads memory from the
    workers' heartbeats, which come every half second, so data released the moment the
    computation ends may leave none of them."""
    since = time.time()
    held = fn(client)
    try:
        return newest_after(cluster.dashboard, set(), since=since)
    finally:
        del held


def _sleepy(block):
    time.sleep(0.2)
    return block


def _healthy(client):
    # 16 x 0.2 s tasks on 2 threads: busy threads, few gaps, an even end, little memory
    assert client.compute(da.ones((16,), chunks=1).map_blocks(_sleepy).sum()).result() == 16


def _too_small(client):
    x = da.ones((1000 * 100,), chunks=100)
    assert client.compute((x + 1).sum()).result() == 2 * 1000 * 100


def _memory_heavy(client):
    # 480 MB of 24 MB blocks held on 2 x 400 MiB workers: with each worker's ~100 MB of
    # interpreter, well past the 60% target (even when a heartbeat lags), so they spill
    z = client.persist(da.random.random((60_000_000,), chunks=3_000_000))
    with client.as_current():
        distributed.wait(z)
    return z


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with dask_processes(tmp_path_factory.mktemp("watch"), preload="chunkpilot.plugin",
                        memory_limit="400MiB", env=ENV) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster.address, timeout="30s", set_as_default=False) as c:
        yield c


@pytest.fixture(scope="module")
def scenarios(cluster, client):
    """Healthy first (workers still lean), then too small, then memory-heavy."""
    # warm the workers up: the first tasks import numpy and dask.array (unmanaged memory)
    client.compute(da.ones((4,), chunks=1).map_blocks(_sleepy).sum()).result()
    return {name: run(cluster, client, fn) for name, fn in
            (("healthy", _healthy), ("too_small", _too_small), ("memory", _memory_heavy))}


def _kinds(c):
    return {v["kind"] for v in c["verdicts"]}


@timing
def test_healthy(scenarios):
    c = scenarios["healthy"]
    assert _kinds(c) == {"healthy"}, c["verdicts"]
    assert c["tasks"] >= 16 and c["threads"] == 2 and not c["mischunked"]


@timing
def test_too_small(scenarios):
    c = scenarios["too_small"]
    assert "too_small" in _kinds(c) and "healthy" not in _kinds(c), c["verdicts"]
    assert c["tasks"] >= 1000 and c["mischunked"]
    assert {"name": "sum", "blocks": [1000], "chunk_shape": [100]}.items() <= next(
        a for a in c["arrays"] if a["name"] == "sum" and a["chunk_shape"]).items()


@timing
def test_memory_heavy(scenarios):
    c = scenarios["memory"]
    assert "too_big" in _kinds(c), c["verdicts"]
    (v,) = [v for v in c["verdicts"] if v["kind"] == "too_big"]
    ev = v["evidence"]
    assert ev["peak_memory_fraction"] > 0.6 or ev["spilled_bytes"] or ev["pauses"]
    assert c["dominant_group"] == "random_sample"
    assert c["arrays"] == [{"name": "random_sample", "blocks": [20], "chunk_shape": [3_000_000],
                            "block_bytes": 24_000_000}]


@timing
def test_one_warning_per_mischunked_computation(cluster, scenarios):
    log = cluster.log()
    for name in ("too_small", "memory"):
        c = scenarios[name]
        lines = [ln for ln in log.splitlines() if c["id"] in ln]
        assert len(lines) == 1, lines
        assert "WARNING" in lines[0] and "chunkpilot.cluster.plugin" in lines[0]
        kind = {"too_small": "too_small", "memory": "too_big"}[name]
        assert next(v["fix"] for v in c["verdicts"] if v["kind"] == kind) in lines[0]
    assert scenarios["healthy"]["id"] not in log


def _png_pixels(path):
    pil = pytest.importorskip("PIL.Image", reason="pillow (a bokeh dependency) is missing")
    with pil.open(path) as im:
        return np.asarray(im.convert("RGB"))


@timing
def test_page(cluster, scenarios, tmp_path):
    with urllib.request.urlopen(f"{cluster.dashboard}/chunkpilot", timeout=60) as r:
        html = r.read().decode()
    for c in scenarios.values():
        assert c["id"] in html
    assert "Task stream: " in html and "Bokeh" in html and "too_small" in html
    assert not re.search(r'<script[^>]+src="https?://', html)  # bokeh is inline: offline
    picked = scenarios["memory"]["id"]
    with urllib.request.urlopen(f"{cluster.dashboard}/chunkpilot?id={picked}", timeout=60) as r:
        one = r.read().decode()
    assert f"Task stream: {picked}" in one
    assert f"Task stream: {scenarios['healthy']['id']}" not in one
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    png = tmp_path / "page.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400",
         "--virtual-time-budget=8000", f"--screenshot={png}",
         f"{cluster.dashboard}/chunkpilot?id={picked}"],
        check=False, capture_output=True, timeout=120)
    px = _png_pixels(png)
    assert (px < 245).any(axis=-1).mean() > 0.05, "page is nearly blank"
    rgb = np.array([int(MEMORY_COLORS["managed"][i:i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(px.astype(int) - rgb).max(axis=-1) <= 12).sum() > 200, "no memory picture"


@timing
def test_cli_prints_the_table(cluster, scenarios):
    runner = CliRunner()
    for address in (cluster.address, cluster.dashboard):
        result = runner.invoke(cli, ["watch", address], env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        for c in scenarios.values():
            assert c["id"] in result.output
        assert "too_small" in result.output and "healthy" in result.output
    result = runner.invoke(cli, ["watch", cluster.address, "--json"])
    assert {c["id"] for c in scenarios.values()} <= {
        c["id"] for c in json.loads(result.output)["computations"]}


@timing
def test_follow_yields_each_computation_once(cluster, scenarios):
    polls = []

    def sleep(_):
        polls.append(1)
        if len(polls) == 2:
            raise KeyboardInterrupt

    got = []
    with pytest.raises(KeyboardInterrupt):
        for s in follow(cluster.address, interval_s=0.01, sleep=sleep):
            got.append(s.id)
    assert len(got) == len(set(got)) and set(got) >= {c["id"] for c in scenarios.values()}


@pytest.mark.parametrize(
    ("address", "match"),
    [("http://127.0.0.1:1", "reachable dask dashboard"), ("nonsense", "scheduler address")],
    ids=["no-dashboard", "malformed"],
)
def test_cli_bad_address(address, match, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["watch", address])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and match in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_no_scheduler():
    with pytest.raises(SchedulerError, match="reachable dask scheduler"):
        fetch("tcp://127.0.0.1:1", timeout_s=1)


def _plugin_state(dask_scheduler):
    import tracemalloc

    p = dask_scheduler.plugins["chunkpilot-cluster-watch"]
    chunkpilot_bytes = None
    if tracemalloc.is_tracing():
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(True, "*/chunkpilot/*")])
        chunkpilot_bytes = sum(s.size for s in snap.statistics("filename"))
    return {"results": len(p.results), "open": len(p._open), "groups": len(p._by_group),
            "pending": p._pending, "bytes": chunkpilot_bytes, "enabled": p.enabled,
            "dropped": p.dropped}


def test_memory_stays_bounded_over_200_computations(cluster, client):
    """200 computations, 40 at a time: 40 results kept, nothing else left, no growth."""
    import tracemalloc

    def batch(start):  # 40 graphs submitted at once: 40 computations recorded side by side
        futures = [client.compute((da.ones((4,), chunks=2) + i).sum())
                   for i in range(start, start + 40)]
        assert client.gather(futures) == [4 * (1 + i) for i in range(start, start + 40)]

    def settle():
        deadline = time.monotonic() + 60
        while ((state := client.run_on_scheduler(_plugin_state))["pending"]
               or state["open"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        return state

    batch(0)  # fill the 40 slots
    client.run_on_scheduler(lambda: tracemalloc.start(1))
    try:
        batch(40)
        batch(80)
        after_120 = settle()
        batch(120)
        batch(160)
        after_200 = settle()
    finally:
        client.run_on_scheduler(tracemalloc.stop)
    assert after_200["enabled"]
    assert after_200["results"] == after_120["results"] == 40
    assert after_200["open"] == after_200["groups"] == after_200["dropped"] == 0
    growth = after_200["bytes"] - after_120["bytes"]
    assert growth < 0.2 * after_120["bytes"] + 64 * 1024, (after_120, after_200)


def test_an_error_switches_the_plugin_off_not_the_scheduler(cluster, client):
    def inject(dask_scheduler):
        def broken(*args, **kwargs):
            raise RuntimeError("injected failure")

        dask_scheduler.plugins["chunkpilot-cluster-watch"]._done = broken

    client.run_on_scheduler(inject)
    x = da.ones((40,), chunks=4)
    assert client.compute(x.sum()).result() == 40  # hits the broken hook
    assert client.compute((x + 1).sum()).result() == 80  # and the scheduler carries on
    doc = api(cluster.dashboard)
    assert doc["enabled"] is False and "injected failure" in doc["error"]
    log = cluster.log()
    assert log.count("chunkpilot ClusterWatch failed in transition") == 1
    with urllib.request.urlopen(f"{cluster.dashboard}/chunkpilot", timeout=60) as r:
        assert "switched itself off" in r.read().decode()

    async def replace(dask_scheduler):  # a fresh watch serves the same routes again
        from chunkpilot.cluster.plugin import ClusterWatch

        dask_scheduler.remove_plugin("chunkpilot-cluster-watch")
        await dask_scheduler.register_scheduler_plugin(ClusterWatch(), idempotent=True)

    client.run_on_scheduler(replace)
    seen = {c["id"] for c in api(cluster.dashboard)["computations"]}
    assert seen == set()
    _healthy(client)
    assert newest_after(cluster.dashboard, seen)["tasks"] >= 16


@pytest.mark.parametrize(("how", "prefix"),
                         [("register_plugin", ""), ("watch_always", "/behind/a/proxy")])
def test_other_ways_to_switch_it_on(how, prefix):
    """On a scheduler started without the preload (a LocalCluster: scheduler in this process),
    once with a dashboard prefix (as under JupyterHub or dask-gateway)."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0",
                                  scheduler_kwargs={"http_prefix": prefix or "/"}) as lc, \
            distributed.Client(lc, set_as_default=False) as client:
        port = lc.scheduler.http_server.port
        dashboard = f"http://127.0.0.1:{port}{prefix}"
        with pytest.raises(urllib.error.HTTPError, match="404"):
            api(dashboard)
        result = CliRunner().invoke(cli, ["watch", lc.scheduler_address])
        assert isinstance(result.exception, SchedulerError)
        assert "ClusterWatch" in str(result.exception)
        if how == "register_plugin":
            client.register_plugin(chunkpilot.ClusterWatch(max_computations=5))
        else:
            url = chunkpilot.watch(client, always=True)
            assert url == f"{dashboard}/chunkpilot"
            assert chunkpilot.watch(client, always=True) == url  # once is enough
        assert client.compute((da.ones((30,), chunks=3) + 1).sum()).result() == 60
        c = newest_after(dashboard, set())
        assert c["tasks"] >= 10 and c["verdicts"]
        assert client.run_on_scheduler(
            lambda dask_scheduler: sum(k == NAME for k in dask_scheduler.plugins)) == 1
        result = CliRunner().invoke(cli, ["watch", lc.scheduler_address, "--json"])
        assert json.loads(result.output)["computations"][0]["id"] == c["id"]


def test_preload_on_a_worker_is_refused_politely(caplog):
    from chunkpilot.plugin import dask_setup

    dask_setup(object())
    assert "dask scheduler --preload chunkpilot.plugin" in caplog.text


def _hog(_):
    block = np.ones(400 * 2**20 // 8)  # 400 MiB on a 256 MiB worker: the nanny kills it
    time.sleep(5)
    return float(block.sum())


def test_a_worker_death_does_not_end_the_computations_recording():
    """Hunt 14: a worker's death moves its task to released (and back to waiting); the watch
    read released as done and closed the recording at the first death: "0 tasks in 2.9 s",
    too_big, killed_worker False, for a computation that ended 11 s later in KilledWorker."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                     memory_limit="256MiB", dashboard_address="127.0.0.1:0",
                                     host="127.0.0.1") as lc, \
            distributed.Client(lc, set_as_default=False) as client:
        client.register_plugin(chunkpilot.ClusterWatch())
        dashboard = lc.dashboard_link.rsplit("/", 1)[0]
        since = time.time()
        with pytest.raises(distributed.KilledWorker):
            client.submit(_hog, 1, pure=False).result(timeout=120)
        c = newest_after(dashboard, set(), since=since)
        assert "failed" in _kinds(c), c["verdicts"]
        (failed,) = [v for v in c["verdicts"] if v["kind"] == "failed"]
        assert "KilledWorker" in failed["message"] and c["tasks"] >= 1, c
