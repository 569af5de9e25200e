"""The generated page (``docs/benchmarks.md`` / ``summary.md``): method, tables, findings,
model accuracy, every shape, provenance. Pure: rows and result documents in, text out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dask.utils import format_bytes

from benchmarks import report
from benchmarks.score import TARGET, Row
from benchmarks.stats import BOOTSTRAP, LEVEL


def _settings(docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return docs[0]["settings"] if docs else {}


def run_line(docs: Sequence[dict[str, Any]]) -> str:
    if not docs:
        return ""
    e = docs[0]["environment"]
    minutes = sum(d.get("seconds_total", 0) for d in docs) / 60
    by_commit: dict[str, list[str]] = {}
    for d in docs:  # rows re-run later name their own commit
        by_commit.setdefault((d["git"].get("commit") or "?")[:12], []).append(d["workload"])
    commit = (f" {next(iter(by_commit))}" if len(by_commit) == 1 else
              "s " + "; ".join(f"{c} ({', '.join(ws)})" for c, ws in by_commit.items()))
    dirty = (" + uncommitted diff (sha256 in the JSON)"
             if any(d["git"].get("dirty") for d in docs) else "")
    quick = "QUICK smoke-test sizes, " if _settings(docs).get("quick") else ""
    return (f"Run: {quick}{e.get('date', '?')[:10]}, commit{commit}{dirty}, "
            f"{len(docs)} workloads in {minutes:.0f} min on {e.get('cores')} cores.")


def _method(docs: Sequence[dict[str, Any]]) -> list[str]:
    st = _settings(docs)
    return [
        "## Method", "",
        f"* **Rounds.** Per workload × scheduler: one warm-up round (every shape once), then "
        f"{st.get('rounds')} timed rounds. Each round runs its shapes once each in a fresh "
        f"random order (seeded: run seed {st.get('seed')}, mixed with the row's name; each "
        "row's seed is in its JSON). The 1-minute load average is read before every round and "
        "the CPU other processes (and other guests, as steal) used during it; rounds in which "
        "they used more than half a core are flagged and counted, not dropped (runs before "
        "2026-12-04 flagged rounds started with the load average above the core count, which "
        "the benchmark's own busy threads reach on 2 cores).",
        f"* **Shapes.** The ladder is chunkpilot's own candidate ladder "
        "(`chunkpilot.core.plan.candidate_shapes`: √2 steps of storage-aligned, evened-out "
        f"shapes, axes kept whole stay whole) from {format_bytes(st.get('min_bytes', 0))} up to "
        "and including the whole array, plus dask `chunks=\"auto\"` (`-1` on axes that must "
        "stay whole), the advised and the tuned shape. After the warm-up, the "
        f"{st.get('keep_fastest')} fastest ladder shapes within {st.get('slow_factor')}× of the "
        "fastest, and every contender, are timed in every round; the others are marked "
        "*pruned* (their warm-up time stands; they cannot be the oracle). A shape that fails "
        "is not run again.",
        "* **Paired ratios.** Every ratio is formed inside a round (T_x / T_y of the same "
        "round) and summarised as a geometric mean over the rounds with a "
        f"{LEVEL:.0%} percentile bootstrap interval ({BOOTSTRAP} resamples of the rounds, "
        "seeded). Pooled geo-means over rows resample the rounds within every row.",
        "* **Oracle, cross-fitted.** The oracle is the best of everything timed in every "
        "round (ladder and contenders). It is chosen on rounds 1, 3, 5, … and scores rounds "
        "2, 4, …, and the other way round, so no round is scored against a shape picked on "
        "it (no winner's curse); the table lists both picks when they differ.",
        "* **Decided or not.** A cell whose interval excludes 1.0 is decided; `≈` marks one "
        f"within noise. Per-row targets (advise ≤ {TARGET['advise']:.2f}, tune ≤ "
        f"{TARGET['tune']:.2f} × the oracle, issue 13) are met or "
        "missed only when the interval lies wholly on one side.",
        "* **Tune** runs on the scheduler it is scored on. On the threaded rows it is asked "
        "for `scheduler=\"threads\"`; while chunkpilot refuses that, it runs on an in-process "
        "LocalCluster with the same threads and the row says *tuned on an in-process "
        "LocalCluster, scored on threads*.",
        "* **BLAS threads.** Every run has one BLAS/OpenMP thread per dask thread: the "
        "workers by distributed's default (`OMP_NUM_THREADS=1`), the threaded rows under "
        "`threadpoolctl.threadpool_limits(1)`, the conditions chunkpilot's samples and trials "
        "measure under and its plans state. (Until 2026-12-02 the threaded rows ran with the "
        "library default; of the workloads only matmul calls BLAS, and it was re-run.)",
        "* **Model accuracy, at every shape.** Predicted = "
        "`chunkpilot.core.evaluate.evaluate(shape, plan.spec, plan.work, plan.resources, "
        "plan.model)` of the advised plan. Time is compared per *input chunk*: the model's "
        "`seconds_per_task` is the time of all tasks of one input chunk (one call of the "
        "function for `func=`, every task per chunk for `pipeline=`); observed = compute "
        "seconds of every task of the run (distributed task stream, or dask callbacks on "
        "threads) ÷ the number of input chunks, median over the timed runs (the warm-up "
        "for pruned shapes). Peak is per thread: on the cluster the largest worker's peak "
        "RSS increment over the run (high-water mark reset before it) ÷ its threads; on "
        "threads the same in a fresh interpreter with dask workers' malloc settings, ÷ 2; "
        "never ÷ more threads than there are input chunks (one chunk: one task's peak). "
        "Summaries: median |log(pred/obs)| and the share with |pred/obs − 1| ≤ 25 %; for "
        "peaks also the share within issue 13's target band (±25 % for rows advised with "
        "func=, ±35 % for rows advised with pipeline=).",
        "* **Provenance.** A run refuses uncommitted changes under `chunkpilot/` unless "
        "`--allow-dirty` (then it stores the changed files and a sha256 of the diff), and "
        "refuses a chunkpilot imported from elsewhere; it stores the full commit SHA, "
        "versions, CPU model, core count and load, and whether the tree changed during the "
        "run.", ""]


def _workloads(docs: Sequence[dict[str, Any]]) -> list[str]:
    out = ["## Workloads", "", "| workload | computation | array | storage chunks | given as "
           "| worker memory (cluster) |", "|---|---|---|---|---|---|"]
    for d in docs:
        nbytes = d["itemsize"]
        for n in d["shape"]:
            nbytes *= n
        out.append(f"| {d['workload']} | {d['description']} | {report.shape_text(d['shape'])} "
                   f"{d['dtype']} ({format_bytes(nbytes)}) | "
                   f"{report.shape_text(d['storage_chunks'])} | {d['expressed_as']} | "
                   f"{d['cluster_memory_limit']} |")
    return out + [""]


def _runs(docs: Sequence[dict[str, Any]]) -> list[str]:
    out = ["## Runs", "", "| workload | date | commit | dirty | load start → end | seconds |",
           "|---|---|---|---|---|---:|"]
    for d in docs:
        e, g = d["environment"], d["git"]
        dirty = ("sha256 " + g["diff_sha256"][:12]) if g.get("dirty") else "no"
        if g.get("changed_during_run"):
            dirty += ", CHANGED DURING THE RUN"
        out.append(f"| {d['workload']} | {e['date']} | {g.get('commit')} | {dirty} | "
                   f"{e['load_average_start'][0]:.1f} → {e['load_average_end']:.1f} | "
                   f"{d['seconds_total']:.0f} |")
    if docs:
        e = docs[0]["environment"]
        out += ["", f"Machine: {e['cpu_model']}, {e['cores']} cores; {e['platform']}. Python "
                f"{e['python']}, dask {e['dask']}, distributed {e['distributed']}, numpy "
                f"{e['numpy']}, zarr {e['zarr']}."]
    return out + [""]


REPRODUCE = [
    "## Reproduce, replay", "",
    "```bash",
    ". .venv/bin/activate && pip install -e \".[all]\"",
    "python -m benchmarks estimate            # how long a full run will take here",
    "python -m benchmarks run                 # full run -> benchmarks/results/, this page, README",
    "python -m benchmarks run --quick --only gil_loop   # smoke test -> benchmarks/results/quick/",
    "python -m benchmarks replay              # re-plan every row with the current model (seconds)",
    "python -m benchmarks summary             # regenerate this page and the README headline",
    "python -m benchmarks.neighbours          # tune's last step simulated on stored runs",
    "python -m benchmarks.search_sim          # tune's whole search simulated on stored runs",
    "```", "",
    "A run refuses uncommitted changes under `chunkpilot/` (`--allow-dirty` records a hash of "
    "the diff). `replay` re-plans every row from the stored inputs with the current model and "
    "planner and scores the new advised shape against the stored timings: its own times when "
    "it was timed in every round, else per-round times interpolated in log-log space between "
    "the two nearest ladder shapes timed in every round (by block bytes; the row says so), "
    "never extrapolated. `tune`'s search is not replayed (its trials ran on the cluster); its "
    "last lines apply today's pick rule to the shapes each row's tune tried, scored the same "
    "way. `benchmarks.search_sim` simulates the whole search instead: each stored row's plan "
    "is re-made from its inputs and `commands.tune._search` runs against the row's stored "
    "timings (a trial of a shape takes the shape's benchmark time, interpolated by block "
    "bytes, or its warm-up time when it was not timed in every round, times log-normal trial "
    "noise; a shape that failed on the benchmark fails). It leaves out the verdicts (every "
    "trial is healthy) and any bias of a trial against the benchmark's timing: it judges "
    "search policies (how far a step goes, when close calls are repeated), not the trials.",
    ""]

LAYOUT = [
    "## Results files", "",
    "One `benchmarks/results/<workload>.json` per workload:", "", "```text",
    "format                 \"chunkpilot-bench/2\"",
    "workload description expressed_as dtype shape storage_chunks itemsize keep_whole depth",
    "cluster_memory_limit   per worker of the 2-worker LocalCluster",
    "settings               quick rounds seed keep_fastest slow_factor advise_mode allow_dirty",
    "                       min_bytes run_timeout_s",
    "git                    commit (40 hex) dirty dirty_files diff_sha256 allow_dirty",
    "                       changed_during_run",
    "environment            python dask distributed numpy zarr chunkpilot platform cpu_model",
    "                       cores os_cpu_count load_average_start load_average_end date",
    "data_seconds seconds_total",
    "schedulers.threads|local",
    "  scheduler seed (the row's) seconds_total cluster_recreated",
    "  ladder               [chunk shape, ...] smallest first",
    "  roles                {auto, advise, tune}: chunk shape or null",
    "  advise               seconds error warnings mode plan (Plan.to_dict(); plan.inputs =",
    "                       what chunkpilot.core.replay.replan takes: spec work resources",
    "                       measurements{samples overhead_seconds_per_task ...} dask_auto_shape)",
    "  tune                 seconds error warnings mode ran_on note chunk_shape",
    "                       result (TuneResult.to_dict() without plan: trials verdict region)",
    "  shapes[i]            chunk_shape block_bytes input_chunks in_ladder roles pruned",
    "                       predicted (evaluate() under the advised plan's model)",
    "                       peak_fresh_process_bytes (threads rows)",
    "  rounds[k]            index warmup load_1min others_cores flagged seconds",
    "                       order [shape index, ...]",
    "    runs[]             shape (index) wall_seconds failed failure restarts spilled_bytes",
    "                       groups {task group: [tasks, total s, median s]}",
    "                       peak_increment_bytes threads_per_process",
    "```", ""]


def render(docs: Sequence[dict[str, Any]], rows: Sequence[Row], head: Sequence[str]) -> str:
    seed = int(_settings(docs).get("seed", 0))
    out = ["# chunkpilot benchmarks", "",
           "<!-- generated by `python -m benchmarks summary` from the results JSON; "
           "do not edit by hand -->", ""]
    out += ["## Headline", "", *head, "", "## Results", "",
            "Ratios of wall time, geometric mean over the paired rounds [95 % interval]; "
            "`≈` = the interval contains 1.0 (within noise); FAIL = the shape failed.", "",
            *report.main_table(rows, seed), "", "## Chunk shapes", "",
            *report.chunk_table(rows), "", "## Findings", ""]
    for row in rows:
        out += [f"- {s}" for s in report.findings(row)]
    out += ["", "## Model accuracy", "", *report.accuracy_table(rows), ""]
    out += _method(docs) + _workloads(docs)
    out += ["## Every shape", "",
            "T ÷ best in round: geometric mean over the timed rounds of the shape's time over "
            "the fastest shape of that round. Pruned shapes show their warm-up time.", ""]
    for row in rows:
        out += [f"### {row.workload} / {row.scheduler}", "", *report.shape_table(row), ""]
    out += _runs(docs) + REPRODUCE + LAYOUT
    return "\n".join(out)
