"""``python -m benchmarks run|summary|replay|estimate|list`` (see docs/benchmarks.md).

    run [--quick] [--only NAME ...] [--rounds N] [--seed N] [--out DIR] [--allow-dirty]
    summary [DIR] [--publish]     DIR/summary.md, or docs/benchmarks.md + README headline
    replay [DIR]                  re-plan every row with the current model; nothing is run
    estimate [--quick] [--only NAME ...] [--rounds N]
    list
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from chunkpilot.commands.outputs import check_output_dir
from chunkpilot.errors import ChunkpilotError

if TYPE_CHECKING:
    from benchmarks.runner import Settings
    from benchmarks.workloads import Workload

RESULTS = Path(__file__).resolve().parent / "results"
SCHEDULERS = ("threads", "local")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("run", "estimate"):
        r = sub.add_parser(name, help=f"{name} the benchmark")
        r.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
        r.add_argument("--only", nargs="+", metavar="NAME", help="only these workloads")
        r.add_argument("--rounds", type=int, default=None,
                       help="timed rounds after the warm-up (default 7; --quick 3)")
        r.add_argument("--schedulers", default="threads,local",
                       help="comma-separated subset of threads,local (default both)")
        r.add_argument("--keep-fastest", type=int, default=6,
                       help="ladder shapes timed in every round after the warm-up (default 6)")
        r.add_argument("--out", type=Path, default=None,
                       help=f"output directory (default {RESULTS}; --quick: {RESULTS / 'quick'})")
        if name == "run":
            r.add_argument("--seed", type=int, default=20261126, help="seed of the round "
                           "orders and the bootstrap (recorded)")
            r.add_argument("--allow-dirty", action="store_true",
                           help="run with uncommitted changes under chunkpilot/ (their diff "
                                "hash is recorded)")
            r.add_argument("--advise-mode", choices=("auto", "func"), default="auto",
                           help="func: give pipelines that have a per-block function as func=")
    s = sub.add_parser("summary", help="write DIR/summary.md (and the docs page + README "
                                       "headline for the main run)")
    s.add_argument("results", type=Path, nargs="?", default=RESULTS)
    s.add_argument("--publish", action="store_true",
                   help="also write docs/benchmarks.md and the README headline from DIR")
    r = sub.add_parser("replay", help="re-plan and re-score stored rows; nothing is run")
    r.add_argument("results", type=Path, nargs="?", default=RESULTS)
    sub.add_parser("list", help="list the workloads")
    return p


def _fail(msg: str) -> int:
    print(msg, file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from benchmarks.workloads import WORKLOADS, select

    if args.command == "list":
        for w in WORKLOADS:
            print(f"{w.name:18} {w.description}")
        return 0
    if args.command == "summary":
        from benchmarks.summary import write

        publish = args.publish or args.results.resolve() == RESULTS.resolve()
        for path in write(args.results, publish):
            print(f"wrote {path}")
        return 0
    if args.command == "replay":
        from benchmarks.replay import render, replay
        from benchmarks.summary import load

        docs = load(args.results)
        if not docs:
            return _fail(f"Expected results files in {args.results}. Got none of this layout.")
        print(render(docs, replay(docs), args.results))
        return 0
    try:
        workloads = select(args.only)
    except ValueError as e:
        return _fail(str(e))
    schedulers = tuple(s.strip() for s in args.schedulers.split(",") if s.strip())
    if not schedulers or any(s not in SCHEDULERS for s in schedulers):
        return _fail(f"Expected --schedulers from threads,local. Got {args.schedulers!r}.")
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 7)
    if rounds < 2:
        return _fail(f"Expected --rounds >= 2 (the oracle is cross-fitted). Got {rounds}.")
    from benchmarks.estimate import estimate
    from benchmarks.runner import Settings

    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    try:  # an unusable --out is refused before minutes of work, not after
        check_output_dir(out, name="--out")
    except ChunkpilotError as e:
        return _fail(str(e))
    st = Settings(args.quick, rounds, getattr(args, "seed", 0), args.keep_fastest,
                  advise_mode=getattr(args, "advise_mode", "auto"),
                  allow_dirty=getattr(args, "allow_dirty", False))
    seconds, source = estimate(workloads, schedulers, st, out)
    print(f"estimated duration: ~{seconds / 60:.0f} min ({seconds} s; from {source})",
          file=sys.stderr, flush=True)
    if args.command == "estimate":
        return 0
    return _run(workloads, schedulers, st, out)


def _run(workloads: list[Workload], schedulers: tuple[str, ...], st: Settings, out: Path) -> int:
    from benchmarks.provenance import DirtyTreeError, check_clean
    from benchmarks.runner import run_workload
    from benchmarks.summary import write

    try:
        git = check_clean(st.allow_dirty)
    except DirtyTreeError as e:
        return _fail(str(e))
    logging.getLogger("distributed").setLevel(logging.ERROR)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"{time.perf_counter() - t0:7.1f}s {msg}", file=sys.stderr, flush=True)

    for wl in workloads:
        log(f"wrote {run_workload(wl, st, schedulers, out, git, log)}")
    publish = out.resolve() == RESULTS.resolve()
    for path in write(out, publish):
        log(f"wrote {path}")
    log(f"whole run {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
