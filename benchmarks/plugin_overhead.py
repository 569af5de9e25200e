"""Scheduler CPU time with vs without chunkpilot's ClusterWatch on a ~100 k-task graph.

``python -m benchmarks.plugin_overhead [--tasks 100000] [--rounds 4] [--out PATH]``

What is measured: the CPU seconds (all threads, ``time.process_time``) of the process that
hosts a real ``distributed.Scheduler`` while it runs one graph, from the client's submission
until every task is forgotten and the plugin has stored its diagnosis. The graph comes from a
real ``Client`` in a subprocess (so graph building and the client's own work are not counted).
Workers are in-process fakes speaking the scheduler's worker protocol: they answer each
``compute-task`` at once with a ``task-finished`` (1 ms of compute in ``startstops``), so a
100 k-task graph takes seconds, not the minutes real workers need on a small machine, and
the scheduler's time is not lost in worker noise. The fakes' own CPU time is counted in both
contenders, and the scheduler skips the network and serialisation a real worker costs it: the
plugin's share of a real scheduler's time is smaller than the ratio reported here.

Contenders ("without", "with" = a fresh ClusterWatch added for the run and removed after)
run once each as a warm-up on a tenth of the graph, then once per round, each going first in
half the rounds (in random order: a drift over the session cancels out of the ratios); the
result is the geometric mean of the per-round CPU ratios with a 95 % percentile bootstrap
interval over the rounds (as every other benchmark here). One more "with" run, not in the
ratios, times what runs inside the watch: the thread CPU time inside its hooks (on the event
loop) and of its diagnosis (its helper thread), as a share of the median "without" run
(``attributed``; the timers' own cost, calibrated on a no-op hook, is taken back out). The
ratio also holds what the timers cannot see (the scheduler calling a plugin at all, garbage
collection of what the diagnosis allocates). Written as JSON with the full commit SHA. """

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import dask
from distributed import Scheduler

from benchmarks.fake_workers import THREADS as FAKE_THREADS
from benchmarks.fake_workers import add_fake_worker
from benchmarks.provenance import clean_or_say, environment
from benchmarks.stats import geo_interval
from chunkpilot.cluster import plugin as plugin_module
from chunkpilot.cluster.dashboard import NAME
from chunkpilot.cluster.plugin import ClusterWatch
from chunkpilot.cluster.recording import analyse

RESULTS = Path(__file__).resolve().parent / "results"
FAKE_WORKERS = 4
#: Two-sided 95 % Student t quantiles by degrees of freedom (no scipy needed).
CLIENT = r"""
import sys
import dask, dask.array as da, distributed
client = distributed.Client(sys.argv[1], set_as_default=False)
n = int(sys.argv[2])
graphs = {"full": (da.ones((n,), chunks=1) + 1).sum(split_every=32),
          "warm": (da.ones((max(1, n // 10),), chunks=1) + 2).sum(split_every=32)}
print(len(dask.optimize(graphs["full"])[0].__dask_graph__()), flush=True)
for line in sys.stdin:
    f = client.compute(graphs[line.strip()])
    with client.as_current():
        distributed.wait(f)
    del f
    print("done", flush=True)
client.close()
"""


async def _line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 600)).decode().strip()
    if not line:
        raise RuntimeError("the client process ended early")
    return line


def _timed(hook: Any, spent: dict[str, float]) -> Any:
    """``hook`` charging its thread CPU time (and one call) to ``spent``."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.thread_time_ns()
        try:
            return hook(*args, **kwargs)
        finally:
            spent["hooks_cpu_seconds"] += (time.thread_time_ns() - t) * 1e-9
            spent["hook_calls"] += 1

    return timed


def timer_cost(calls: int = 200_000) -> dict[str, float]:
    """What the timing wrapper itself costs per call: inside the timed interval (subtracted
    from the hooks' time) and in all (subtracted from the "with" runs' CPU)."""
    spent = {"hooks_cpu_seconds": 0.0, "hook_calls": 0}
    noop, timed = (lambda *a, **k: None), _timed(lambda *a, **k: None, spent)
    t = time.process_time()
    for _ in range(calls):
        noop(1, 2, 3, stimulus_id="s")
    bare = time.process_time() - t
    t = time.process_time()
    for _ in range(calls):
        timed(1, 2, 3, stimulus_id="s")
    return {"inside_seconds": spent["hooks_cpu_seconds"] / calls,
            "total_seconds": (time.process_time() - t - bare) / calls}


def _attribute(watch: ClusterWatch) -> dict[str, float]:
    """Time the watch's hooks (event loop) and its diagnosis (helper thread) spend."""
    spent = {"hooks_cpu_seconds": 0.0, "hook_calls": 0, "diagnosis_cpu_seconds": 0.0}
    for name in ("transition", "update_graph", "log_event"):
        setattr(watch, name, _timed(getattr(watch, name), spent))

    def timed_analyse(*args: Any) -> Any:
        t = time.thread_time()
        try:
            return analyse(*args)
        finally:
            spent["diagnosis_cpu_seconds"] += time.thread_time() - t

    plugin_module.analyse = timed_analyse  # what ClusterWatch._finish calls
    return spent


async def _one_run(s: Scheduler, proc: asyncio.subprocess.Process, plugin: bool,
                   graph: str, timed: bool = False) -> dict[str, float]:
    watch, spent = None, {}
    if plugin:
        watch = ClusterWatch()
        if timed:
            spent = _attribute(watch)
        s.add_plugin(watch, name=NAME)
        await watch.start(s)
    gc.collect()
    cpu0, wall0, loop0 = time.process_time(), time.perf_counter(), time.thread_time()
    assert proc.stdin is not None
    proc.stdin.write(f"{graph}\n".encode())
    await proc.stdin.drain()
    assert await _line(proc) == "done"
    while s.tasks or (watch is not None and (watch._pending or watch._open)):
        await asyncio.sleep(0.005)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    loop = time.thread_time() - loop0  # the scheduler's event loop thread alone
    if watch is not None:
        assert len(watch.results) == 1 and watch.enabled, watch.error
        s.remove_plugin(NAME)
        await watch.close()
        plugin_module.analyse = analyse
    return {"cpu_seconds": cpu, "loop_cpu_seconds": loop, "wall_seconds": wall, **spent}


async def measure(tasks: int, rounds: int, seed: int = 0) -> dict[str, Any]:
    """Warm-up, then ``rounds`` paired runs in random order; the JSON document."""
    rng = random.Random(seed)
    with dask.config.set({"distributed.scheduler.work-stealing": False,
                          "distributed.scheduler.worker-ttl": None}):
        async with Scheduler(host="127.0.0.1", port=0, dashboard_address="127.0.0.1:0") as s:
            comms = [await add_fake_worker(s, i) for i in range(FAKE_WORKERS)]
            timers = timer_cost()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", CLIENT, s.address, str(tasks),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            try:
                graph_tasks = int(await _line(proc))
                runs = []
                # each contender goes first in half the rounds (in random order), so a drift
                # over the session (the scheduler's process ages) cancels out of the ratios
                orders = [("without", "with"), ("with", "without")] * (rounds // 2 + 1)
                orders = orders[:rounds]
                rng.shuffle(orders)
                for r, order in enumerate([("without", "with"), *orders]):  # 0: warm-up
                    for contender in order:
                        res = await _one_run(s, proc, contender == "with",
                                             "warm" if r == 0 else "full")
                        runs.append({"round": r, "warmup": r == 0, "contender": contender, **res})
                        print(f"round {r} {contender:7} cpu {res['cpu_seconds']:.2f} s "
                              f"wall {res['wall_seconds']:.2f} s", file=sys.stderr, flush=True)
                timed_run = await _one_run(s, proc, True, "full", timed=True)
            finally:
                if proc.stdin is not None:
                    proc.stdin.close()
                try:
                    await asyncio.wait_for(proc.wait(), 60)
                except asyncio.TimeoutError:
                    proc.kill()
                    await proc.wait()
                for c in comms:
                    c.abort()
    timed = [r for r in runs if not r["warmup"]]
    by = {(r["round"], r["contender"]): r for r in timed}
    ratios = [by[(i, "with")]["cpu_seconds"] / by[(i, "without")]["cpu_seconds"]
              for i in range(1, rounds + 1)]
    iv = geo_interval([math.log(r) for r in ratios], seed)
    mean, lo, hi = (iv.value, iv.low, iv.high) if iv else (math.nan,) * 3
    without = statistics.median(r["cpu_seconds"] for r in timed if r["contender"] == "without")
    # the timers' own cost inside the timed intervals comes back out
    hooks = timed_run["hooks_cpu_seconds"] - timed_run["hook_calls"] * timers["inside_seconds"]
    attributed = {"hooks_cpu_seconds": hooks,
                  "diagnosis_cpu_seconds": timed_run["diagnosis_cpu_seconds"],
                  "hook_calls": timed_run["hook_calls"],
                  "share_of_median_without": (hooks + timed_run["diagnosis_cpu_seconds"])
                  / without, "timer_cost_per_call": timers, "run": timed_run}
    return {"benchmark": "plugin_overhead", "graph_tasks": graph_tasks, "rounds": rounds,
            "fake_workers": FAKE_WORKERS, "threads_per_fake_worker": FAKE_THREADS,
            "cpu_ratio_with_over_without": {"geometric_mean": mean, "ci95_low": lo,
                                            "ci95_high": hi, "per_round": ratios},
            "overhead_percent": 100 * (mean - 1),
            "overhead_microseconds_per_task": 1e6 * (mean - 1) * without / graph_tasks,
            "median_cpu_seconds_without": without, "attributed": attributed,
            "runs": runs,
            "method": " ".join(p.replace("\n", " ") for p in __doc__.split("\n\n")[2:4])}


README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- plugin-overhead:start -->", "<!-- plugin-overhead:end -->"


def readme_text(doc: dict[str, Any]) -> str:
    """The README's overhead sentence, every number from the results document."""
    r, a = doc["cpu_ratio_with_over_without"], doc["attributed"]
    lo, hi = r["ci95_low"], r["ci95_high"]
    verdict = ("the interval holds 1: on this machine the overhead cannot be told apart from "
               "noise" if lo <= 1 <= hi else
               f"an overhead of {100 * (r['geometric_mean'] - 1):.0f} %")
    load = doc["environment"].get("load_average_start") or [math.nan]
    return (f"Measured by `python -m benchmarks.plugin_overhead` on a "
            f"{doc['graph_tasks'] / 1000:.0f} k-task graph ([results]"
            f"(benchmarks/results/plugin_overhead.json), commit `{doc['commit'][:12]}`, "
            f"{doc['rounds']} paired rounds, 1-minute load {load[0]:.1f} on "
            f"{doc['environment'].get('cores')} cores; a real scheduler fed by in-process fake "
            f"workers): scheduler CPU with / without the watch **{r['geometric_mean']:.2f}** "
            f"(95 % interval {lo:.2f}–{hi:.2f}: {verdict}); the watch's own CPU time, hooks "
            f"plus diagnosis, timed in one more run, was **{a['share_of_median_without']:.1%}** "
            "of the scheduler's.")


def publish(doc: dict[str, Any], readme: Path = README) -> None:
    """Rewrite the README text between the plugin-overhead markers from ``doc``."""
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, found, tail = rest.partition(END)
    if not found:
        raise ValueError(f"Expected the markers {START} and {END} in {readme}.")
    readme.write_text(f"{head}{START}\n{readme_text(doc)}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.plugin_overhead",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=int, default=100_000, help="array blocks (~ graph tasks)")
    p.add_argument("--rounds", type=int, default=4, help="paired rounds after the warm-up")
    p.add_argument("--out", type=Path, default=RESULTS / "plugin_overhead.json")
    p.add_argument("--allow-dirty", action="store_true",
                   help="run with uncommitted changes under chunkpilot/ (a diff hash is recorded)")
    args = p.parse_args(argv)
    if args.tasks < 1 or args.rounds < 1:
        print(f"Expected --tasks and --rounds >= 1. Got {args.tasks}, {args.rounds}.",
              file=sys.stderr)
        return 2
    git = clean_or_say(args.allow_dirty, "plugin_overhead")
    if git is None:
        return 2
    logging.getLogger("distributed").setLevel(logging.WARNING)
    logging.getLogger().addHandler(logging.NullHandler())  # the watch's warnings: made, not shown
    t0 = time.perf_counter()
    doc = asyncio.run(measure(args.tasks, args.rounds))
    doc["commit"] = git["commit"]
    doc["git"] = git
    doc["environment"] = {**environment(), "repeats": args.rounds}
    doc["benchmark_seconds"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    if args.out.resolve() == (RESULTS / "plugin_overhead.json").resolve():
        publish(doc)  # the published run: README numbers come from this file
    r = doc["cpu_ratio_with_over_without"]
    a = doc["attributed"]
    print(f"{doc['graph_tasks']} tasks: scheduler CPU with/without ClusterWatch = "
          f"{r['geometric_mean']:.3f} (95% CI {r['ci95_low']:.3f}-{r['ci95_high']:.3f}); "
          f"CPU inside the watch = {a['share_of_median_without']:.1%} of the scheduler's "
          f"(hooks {a['hooks_cpu_seconds']:.2f} s, diagnosis {a['diagnosis_cpu_seconds']:.2f} s)"
          f"; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
