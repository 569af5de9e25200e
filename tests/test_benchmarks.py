"""The benchmark suite: its arithmetic on synthetic numbers (pairing, bootstrap, the
cross-fitted oracle, interpolation), the ladder, provenance, the README block, the replay of
the committed fixture (a fixed table), and one quick run end to end. Never asserts timings.

The fixture (``tests/data/bench_fixture``) is a committed ``--quick`` run. Its replay uses
the *current* model and planner, so a deliberate model change changes the expected table:
regenerate it with ``python -m benchmarks replay tests/data/bench_fixture >
tests/data/bench_fixture/replay_expected.md`` and review the diff (that diff is the point).
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

from benchmarks import provenance, stats  # noqa: E402
from benchmarks.ladder import ladder, spec_work  # noqa: E402
from benchmarks.replay import new_advise_walls, render, repick_tune, replay  # noqa: E402
from benchmarks.rounds import kept_after_warmup  # noqa: E402
from benchmarks.score import score_row, timed_walls  # noqa: E402
from benchmarks.summary import END, START, cost_line, load, readme_block  # noqa: E402
from benchmarks.timing import RunRecord, ThreadsExecutor  # noqa: E402

FIXTURE = Path("tests/data/bench_fixture")


def _published_docs() -> list[tuple[str, dict]]:
    """The published results as (commit, workload document), as the replays take them."""
    return [("now", d) for d in load(RESULTS)]


# --- arithmetic on synthetic numbers ---------------------------------------------------------

def test_paired_ratio_of_constant_factor_has_a_zero_width_interval():
    walls = {"a": [1.0, 2.0, 4.0, 3.0], "b": [2.0, 4.0, 8.0, 6.0]}  # b = 2 a in every round
    iv = stats.geo_interval(stats.paired_logs(walls, "b", "a"), seed=1)
    assert (iv.value, iv.low, iv.high, iv.rounds) == pytest.approx((2.0, 2.0, 2.0, 4))
    assert iv.excludes(1.0) and stats.verdict(iv) == "above"


def test_pairing_removes_round_to_round_drift():
    # the machine slows 3x in round 2: unpaired means would blur, paired ratios do not
    walls = {"x": [1.0, 3.0, 1.0], "y": [1.1, 3.3, 1.1]}
    iv = stats.geo_interval(stats.paired_logs(walls, "y", "x"), seed=0)
    assert iv.value == pytest.approx(1.1) and iv.high - iv.low == pytest.approx(0.0, abs=1e-12)


def test_bootstrap_is_seeded_and_brackets_the_geometric_mean():
    logs = [math.log(v) for v in (1.0, 1.2, 0.9, 1.5, 1.1, 1.3, 1.05)]
    a, b = stats.geo_interval(logs, seed=7), stats.geo_interval(logs, seed=7)
    assert a == b
    assert a.low < a.value < a.high
    assert a.value == pytest.approx(math.exp(sum(logs) / len(logs)))
    assert stats.verdict(a) == "within noise" or a.low > 1.0


def test_best_in_round_uses_only_shapes_timed_every_round():
    walls = {"a": [1.0, 2.0], "b": [2.0, 1.0], "c": [0.1, None]}  # c missed round 2
    assert stats.complete(walls) == ["a", "b"]
    assert stats.best_in_round_logs(walls, "a") == pytest.approx([0.0, math.log(2)])


def test_oracle_is_chosen_on_one_fold_and_scores_the_other():
    # rounds 1, 3 favour "p"; rounds 2, 4 favour "q"; "z" is the contender
    walls = {"p": [1.0, 2.0, 1.0, 2.0], "q": [2.0, 1.0, 2.0, 1.0], "z": [1.5, 1.5, 1.5, 1.5]}
    o = stats.cross_fitted_oracle(walls, list(walls))
    assert (o.chosen_on_odd, o.chosen_on_even) == ("p", "q")
    # round 1 (index 0) is scored by the pick of rounds 2, 4 (q = 2.0), and so on
    assert [o.for_round(r) for r in range(4)] == ["q", "p", "q", "p"]
    assert stats.oracle_logs(walls, "z", o) == pytest.approx([math.log(0.75)] * 4)
    # in-sample, the oracle would have looked perfect: the winner's curse cross-fitting avoids
    assert stats.oracle_logs(walls, "p", o) == pytest.approx(
        [math.log(0.5), 0.0, math.log(0.5), 0.0])


def test_failed_or_partial_shapes_cannot_be_the_oracle():
    walls = {"fast_but_failed": [0.1, None], "ok": [1.0, 1.0]}
    o = stats.cross_fitted_oracle(walls, list(walls))
    assert (o.chosen_on_odd, o.chosen_on_even) == ("ok", "ok")
    assert stats.cross_fitted_oracle({"x": [None, 1.0]}, ["x"]) is None


def test_pooled_interval_resamples_rounds_within_rows():
    rows = [[math.log(2.0)] * 5, [0.0] * 7]  # one row at 2x, one at 1x, no noise
    iv = stats.pooled_interval(rows, seed=3)
    assert iv.value == pytest.approx(math.sqrt(2.0))
    assert (iv.low, iv.high) == pytest.approx((math.sqrt(2.0), math.sqrt(2.0)))


@pytest.mark.parametrize(("x", "expected"), [
    (2.0, 2.0), (8.0, 8.0), (4.0, 4.0),  # y = x on a log-log line: exact at any point
    (1.0, None), (16.0, None),  # outside: never extrapolated
])
def test_interpolate_loglog(x, expected):
    got = stats.interpolate_loglog(x, [(2.0, 2.0), (8.0, 8.0)])
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_accuracy_summaries():
    ratios = [1.0, 1.2, 0.7, 2.0, 0.5]
    assert stats.within(ratios) == (2, 5)  # 1.0 and 1.2 are within ±25 %
    assert stats.median_abs_log(ratios) == pytest.approx(abs(math.log(0.7)))


def test_the_peak_target_band_is_the_issues_for_each_rows_mode():
    """Issue 13: a predicted peak within ±25 % at every shape for func= rows, ±35 % for
    pipeline= rows; a ratio of 1.30 meets the second only."""
    from benchmarks.report import peak_target_text
    from benchmarks.score import Row, ShapeObs

    def row(mode, ratios):
        shapes = [ShapeObs((i,), 1, "timed", (), True, None, 1.0, 1.0, 1.0, 1.0, r)
                  for i, r in enumerate(ratios)]
        return Row("w", "threads", ((1,),), 1.0, {}, 7, 0, shapes, [], mode)

    rows = [row("func", [1.0, 1.30, 0.5]), row("pipeline", [1.30, 0.70, 1.40])]
    assert peak_target_text(rows).endswith("on 3/6 shapes")
    assert peak_target_text(rows[:1]).endswith("on 1/3 shapes")


# --- ladder, warm-up pruning, provenance, README block ----------------------------------------

@pytest.mark.parametrize(("shape", "storage", "dtype", "keep_whole", "depth"), [
    ((4096, 2048), (256, 256), "float64", (), None),
    ((64, 256, 512), (64, 32, 32), "float32", (0,), None),
    ((2048, 2048), (256, 256), "float64", (), 8),
])
def test_ladder_is_the_planners_from_the_floor_to_the_whole_array(shape, storage, dtype,
                                                                   keep_whole, depth):
    spec, work = spec_work(shape, storage, dtype, keep_whole, depth)
    rungs = ladder(spec, work, 1 << 20)
    sizes = [math.prod(s) * spec.itemsize for s in rungs]
    assert sizes == sorted(set(sizes)) and sizes[0] >= 0.9 * (1 << 20)
    assert rungs[-1] == shape  # up to and including the whole array
    assert all(s[i] == shape[i] for s in rungs for i in keep_whole)
    steps = [b / a for a, b in zip(sizes, sizes[1:], strict=False)]
    assert max(steps) <= 2.0 + 1e-9  # about sqrt(2); alignment may merge a step


def test_warmup_keeps_contenders_and_the_fastest_ladder_shapes():
    def rec(wall, failed=False):
        return RunRecord(wall, failed)

    warm = {(1,): rec(1.0), (2,): rec(1.2), (4,): rec(1.1), (8,): rec(5.0), (16,): rec(0.1, True),
            (3,): rec(9.0)}
    keep, why = kept_after_warmup(warm, [(1,), (2,), (4,), (8,), (16,)], [(3,)], 2, 2.5)
    assert set(keep) == {(1,), (4,), (3,)}  # 2 fastest ladder shapes + the slow contender
    assert "failed" in why[(16,)] and "5.0x" in why[(8,)] and "2 fastest" in why[(2,)]


def test_dirty_tree_is_refused_unless_allowed(monkeypatch):
    dirty = {"commit": "a" * 40, "dirty": True, "dirty_files": ["chunkpilot/x.py"],
             "diff_sha256": "b" * 64}
    monkeypatch.setattr(provenance, "git_state", lambda: dirty)
    with pytest.raises(provenance.DirtyTreeError, match="chunkpilot/x.py"):
        provenance.check_clean(allow_dirty=False)
    assert provenance.check_clean(allow_dirty=True)["diff_sha256"] == "b" * 64


def test_a_dirty_tree_is_one_line_for_a_command_line_benchmark(monkeypatch, capsys):
    dirty = {"commit": "a" * 40, "dirty": True, "dirty_files": ["chunkpilot/x.py"]}
    monkeypatch.setattr(provenance, "git_state", lambda: dirty)
    assert provenance.clean_or_say(False, "probe_size") is None
    err = capsys.readouterr().err
    assert err.startswith("probe_size: error: Expected no uncommitted changes") and \
        err.count("\n") == 1
    assert provenance.clean_or_say(True, "probe_size")["allow_dirty"] is True


def test_git_state_names_the_full_commit():
    state = provenance.git_state()
    assert len(state["commit"]) == 40 and int(state["commit"], 16) >= 0


def test_readme_block_is_replaced_between_the_markers():
    text = f"intro\n{START}\nold numbers\n{END}\nrest\n"
    out = readme_block(text, ["- line one", "- line two"])
    assert "old numbers" not in out and "- line one\n- line two" in out
    assert out.startswith("intro\n") and out.endswith(f"{END}\nrest\n")
    with pytest.raises(ValueError, match="markers"):
        readme_block("no markers here", ["x"])


# --- the committed fixture --------------------------------------------------------------------

@pytest.fixture(scope="module")
def docs():
    got = load(ROOT / FIXTURE)
    assert got, "the committed fixture is missing"
    return got


def test_replay_of_the_fixture_gives_the_committed_table(docs):
    expected = (ROOT / FIXTURE / "replay_expected.md").read_text()
    assert render(docs, replay(docs), FIXTURE) + "\n" == expected


def test_fixture_stores_what_replay_needs(docs):
    for d in docs:
        assert len(d["git"]["commit"]) == 40
        for run in d["schedulers"].values():
            inputs = run["advise"]["plan"]["inputs"]
            assert inputs["measurements"]["samples"]  # every profiling sample
            assert "overhead_seconds_per_task" in inputs["measurements"]
            assert all(r["runs"] for r in run["rounds"])  # every timed run
            assert sum(1 for r in run["rounds"] if not r["warmup"]) >= 2


def test_replay_interpolates_between_timed_ladder_shapes_and_never_extrapolates(docs):
    run = copy.deepcopy(docs[0]["schedulers"]["threads"])
    item = docs[0]["itemsize"]
    walls = timed_walls(run)
    done = set(stats.complete(walls))
    rungs = sorted((m["block_bytes"], i) for i, m in enumerate(run["shapes"])
                   if m["in_ladder"] and i in done)
    assert len(rungs) >= 3, "the fixture needs three timed rungs"
    (_, i0), (_, k), (_, i1) = rungs[:3]
    target = tuple(run["shapes"][k]["chunk_shape"])
    run["shapes"][k].update(chunk_shape=[0], in_ladder=False)  # as if never measured
    got, how = new_advise_walls(run, target, item)
    assert how.startswith("interpolated by block bytes between")
    for r, t in enumerate(got):  # log-log interpolation lies between its neighbours
        lo, hi = sorted((walls[i0][r], walls[i1][r]))
        assert lo <= t <= hi
    got, how = new_advise_walls(run, (1,) * len(target), item)  # below every timed rung
    assert got is None and "no extrapolation" in how


def test_summary_scores_every_row_of_the_fixture(docs):
    for d in docs:
        for run in d["schedulers"].values():
            row = score_row(d["workload"], run)
            assert row.oracle and row.timed_rounds >= 2
            assert set(row.roles) == {"auto", "advise", "tune"}
            assert all(s.pred_seconds is not None for s in row.shapes)


def test_the_cost_line_names_every_advise_over_its_time_limit():
    def doc(name, advise_s, tune_s, trials):
        tune = {"seconds": tune_s, "result": {"trials": [{}] * trials}}
        return {"workload": name, "schedulers": {"local": {"advise": {"seconds": advise_s},
                                                           "tune": tune}}}

    line = cost_line([doc("a", 12.5, 4.0, 5), doc("b", 3.0, 9.0, 3), doc("c", 9.9, 5.0, 4)])
    assert "at most 12.5 s (a/local)" in line and "2 met, 1 over (a/local 12.5 s)" in line
    assert "advise took 9.9 s (median of 3 rows)" in line
    assert "tune took 5.0 s (median), at most 9.0 s (b/local), with at most 5 trials" in line
    assert "target: 1 met, 0 over." in cost_line([doc("b", 3.0, 9.0, 3)])


# --- the command line -------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "match"), [
    (["run", "--quick", "--only", "nope"], "nope"),
    (["run", "--quick", "--rounds", "1"], "rounds"),
    (["replay", "/nonexistent-results"], "Expected results files"),
])
def test_bad_arguments_exit_2(args, match):
    proc = subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and match in proc.stderr


@pytest.mark.cluster
@pytest.mark.slow
def test_quick_run_end_to_end(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--quick", "--only", "gil_loop",
         "--rounds", "2", "--out", str(tmp_path), "--allow-dirty"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "gil_loop.json").read_text())
    assert set(doc["schedulers"]) == {"threads", "local"}
    for run in doc["schedulers"].values():
        assert [r["warmup"] for r in run["rounds"]] == [True, False, False]
        for r in run["rounds"]:  # the round's own work is not others' load
            assert r["others_cores"] >= 0 and r["flagged"] == (r["others_cores"] > 0.5)
        assert {"auto", "advise", "tune"} <= set(run["roles"])
        assert run["advise"]["plan"]["inputs"]["measurements"]["samples"]
    assert doc["schedulers"]["threads"]["tune"]["ran_on"] in ("threads", "in-process LocalCluster")
    text = (tmp_path / "summary.md").read_text()
    assert "| gil_loop | threads |" in text and "| gil_loop | local |" in text
    replayed = subprocess.run([sys.executable, "-m", "benchmarks", "replay", str(tmp_path)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 0 and "same as the run" in replayed.stdout


@pytest.mark.slow
def test_s3_read_workload_serves_its_data_from_a_local_s3_server(tmp_path):
    """The ``s3_read`` row's data: a URL with storage options (through the delaying proxy)
    that dask reads, and nothing left listening once the block ends."""
    import math

    import dask

    from benchmarks.workloads import BY_NAME
    from tests.helpers.s3server import wait_port_closed

    wl = BY_NAME["s3_read"]
    assert wl.remote and wl.schedulers == ("local",)
    with wl.data(tmp_path, quick=True) as src:
        assert src.url.startswith("s3://") and src.storage_options
        port = int(src.storage_options["endpoint_url"].rsplit(":", 1)[1])  # the proxy
        x = src.open((256, 256))
        assert x.shape == wl.quick.shape and x.chunks[0][0] == 256
        total = dask.compute(wl.build(x), scheduler="threads")[0]
        assert math.isfinite(float(total)) and float(total) > 0
    assert wait_port_closed(port)



_SEEN_BLAS_THREADS: list[int] = []


def _record_blas_threads(block):
    """Inside a task: note the most threads any BLAS/OpenMP pool of this process may use."""
    from threadpoolctl import threadpool_info

    _SEEN_BLAS_THREADS.append(max(p["num_threads"] for p in threadpool_info()))
    return block


def test_threaded_runs_hold_blas_to_one_thread_per_dask_thread():
    """Every contender on the threaded rows runs as workers, samples and plans do."""
    import dask.array as da
    from threadpoolctl import threadpool_info

    pools = threadpool_info()
    if not pools or max(p["num_threads"] for p in pools) == 1:
        pytest.skip("no BLAS/OpenMP pool with more than one thread here: nothing to hold")
    work = da.zeros((4,), chunks=1).map_blocks(_record_blas_threads)
    _SEEN_BLAS_THREADS.clear()  # map_blocks called it on empty metadata while building
    with ThreadsExecutor() as ex:
        record = ex.run(work, timeout_s=60)
    assert not record.failed, record.failure
    assert _SEEN_BLAS_THREADS and set(_SEEN_BLAS_THREADS) == {1}, _SEEN_BLAS_THREADS


def test_tune_is_re_picked_from_its_stored_trials_by_todays_rule(docs):
    """A bigger shape timed 5 % faster, inside the noise: today's rule takes it (the rule
    before took the smaller one); both picks are scored against the oracle."""
    doc = copy.deepcopy(docs[0])
    run = next(iter(doc["schedulers"].values()))
    done = stats.complete(timed_walls(run))
    small, big = sorted((tuple(run["shapes"][i]["chunk_shape"]) for i in done[:2]),
                        key=math.prod)
    trial = {"restarts": 0, "error": None, "verdicts": []}
    run["tune"]["result"] = {"trials": [
        {**trial, "chunk_shape": list(small), "active_seconds": 1.00},
        {**trial, "chunk_shape": list(big), "active_seconds": 0.95},
        {**trial, "chunk_shape": [1, 1], "active_seconds": 0.5, "restarts": 1}]}  # failed
    run["roles"]["tune"] = list(small)
    shape, new, old = repick_tune(doc, run)
    assert shape == big
    assert new is not None and old is not None and new != old



def test_a_single_chunks_peak_is_one_tasks_not_shared_among_idle_threads():
    """The observed peak per thread divides a process's increment by the threads that held
    a chunk at once: with one input chunk that is one (the other thread had nothing)."""
    from benchmarks.score import observe_shape

    def run(chunks: int) -> dict:
        rec = {"failed": False, "groups": {"f": [chunks, 1.0, 1.0]},
               "threads_per_process": 2, "peak_increment_bytes": 400}
        return {"scheduler": "local",
                "shapes": [{"input_chunks": chunks, "peak_fresh_process_bytes": 400}],
                "rounds": [{"warmup": False, "runs": [{**rec, "shape": 0}]}]}

    assert observe_shape(run(1), 0)[1] == 400
    assert observe_shape(run(8), 0)[1] == 200
    assert observe_shape({**run(1), "scheduler": "threads"}, 0)[1] == 400
    assert observe_shape({**run(8), "scheduler": "threads"}, 0)[1] == 200


@pytest.mark.timing  # counts the whole machine's CPU
def test_others_cores_counts_a_process_outside_the_benchmark_not_its_own_work():
    """A busy process outside this process tree (orphaned by its shell) shows up as about one
    core of others' CPU; the same spin in this process does not."""
    spin = "import time\nt = time.perf_counter()\nwhile time.perf_counter() - t < 1.5: pass"
    before, t0 = provenance.cpu_seconds(), time.perf_counter()
    subprocess.run(["sh", "-c", f"{sys.executable} -c '{spin}' >/dev/null 2>&1 &"], check=True)
    time.sleep(1.6)
    outside = provenance.others_cores(before, provenance.cpu_seconds(), time.perf_counter() - t0)
    before, t0 = provenance.cpu_seconds(), time.perf_counter()
    exec(compile(spin, "spin", "exec"), {})
    inside = provenance.others_cores(before, provenance.cpu_seconds(), time.perf_counter() - t0)
    assert outside > 0.6
    assert inside < outside - 0.5


def test_neighbours_replay_keeps_the_fastest_of_the_kept_shape_and_its_untried_rungs():
    """Without trial noise the simulated last step keeps exactly the best of the kept shape
    and the rungs it runs; with noise it can only do worse than that best."""
    from benchmarks.neighbours import simulate

    docs = _published_docs()
    for _, doc in docs:  # as if each tune had stopped after its first 3 trials
        for run in (doc.get("schedulers") or {}).values() if isinstance(doc, dict) else ():
            result = run["tune"]["result"]
            result["trials"] = result["trials"][:3]
            ok = [t for t in result["trials"] if not t.get("restarts") and not t.get("error")]
            result["chunk_shape"] = min(ok, key=lambda t: t["active_seconds"])["chunk_shape"]
    exact = simulate(docs, noise=0.0, order="promising", draws=1)
    assert exact and all(sim <= kept for *_, kept, sim in exact)
    assert any(sim < kept for *_, kept, sim in exact)  # some neighbour beat the kept shape
    noisy = simulate(docs, noise=0.10, order="promising", draws=200)
    assert [r[:4] for r in noisy] == [r[:4] for r in exact]
    assert all(n[4] >= e[4] - 1e-12 for n, e in zip(noisy, exact, strict=True))


def test_search_sim_runs_tunes_whole_search_on_every_stored_row_within_the_budget():
    """The replay of the whole search (``benchmarks.search_sim``): without trial noise every
    row's search ends on a shape no faster than the best one the benchmark timed, within
    the trial budget, and close to that best on the stored runs."""
    import statistics

    from benchmarks.search_sim import simulate

    docs = _published_docs()
    rows = simulate(docs, noise=0.0, draws=1)
    assert len(rows) >= 10
    assert all(ratio >= 1.0 - 1e-9 and 1 <= trials <= 5 for *_, ratio, trials in rows)
    assert statistics.geometric_mean(r[3] for r in rows) < 1.10
    fewer = simulate(docs, noise=0.0, draws=1, max_trials=1)  # the advised shape alone
    assert all(trials == 1 for *_, trials in fewer)


def test_search_sim_replays_the_first_trials_excess_and_the_run_set_aside_for_it():
    """A first run slowed by the stored excess steers the search (with it counted, as before
    2026-12-07); set aside for a second run (``FIRST_TRIAL_RUNS``), the search is the one
    without any excess."""
    from benchmarks.search_sim import first_trial_excess, simulate

    docs = _published_docs()
    excess = first_trial_excess(docs)
    assert excess and all(math.isfinite(v) for v in excess.values())
    slow = {k: 1.0 for k in excess}  # every first run 2.7x slower
    plain = simulate(docs, noise=0.0, draws=1)
    assert simulate(docs, noise=0.0, draws=1, excess=slow) == plain  # set aside
    # counted, a search may go where the benchmark timed nothing (that row is left out)
    counted = {r[:3]: r[3] for r in simulate(docs, noise=0.0, draws=1, excess=slow,
                                             first_runs=1)}
    base = {r[:3]: r[3] for r in plain}
    assert counted and set(counted) <= set(base)
    assert any(counted[k] > base[k] for k in counted)  # it left a faster advised shape
