"""``python -m benchmarks run [--quick] [--only NAME ...] [--repeats N] [--out DIR]``.

``python -m benchmarks summary [--out DIR]`` rebuilds ``summary.md`` from the JSON there;
``python -m benchmarks list`` names the workloads.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run workloads, write <out>/<name>.json and summary.md")
    run.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (smoke test)")
    run.add_argument("--only", nargs="+", metavar="NAME", help="run only these workloads")
    run.add_argument("--repeats", type=int, default=None,
                     help="timed runs per chunk shape after the warm-up (default 3; --quick 1)")
    run.add_argument("--schedulers", default="threads,local",
                     help="comma-separated subset of threads,local (default both)")
    run.add_argument("--out", type=Path, default=None,
                     help=f"output directory (default {RESULTS}; --quick: {RESULTS / 'quick'})")
    run.add_argument("--advise-mode", choices=("auto", "func", "pipeline"), default="auto",
                     help="how workloads that are not one per-block function go to advise: "
                          "pipeline= when chunkpilot has it (auto), or always "
                          "func/depth/keep_whole")
    summ = sub.add_parser("summary", help="rebuild summary.md from the JSON results")
    summ.add_argument("--out", type=Path, default=RESULTS)
    sub.add_parser("list", help="list the workloads")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from benchmarks.workloads import WORKLOADS, select

    if args.command == "list":
        for w in WORKLOADS:
            print(f"{w.name:15} {w.description}")
        return 0
    from benchmarks.summary import write_summary

    if args.command == "summary":
        print(write_summary(args.out))
        return 0
    try:
        workloads = select(args.only)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    schedulers = tuple(s.strip() for s in args.schedulers.split(",") if s.strip())
    if not schedulers or any(s not in ("threads", "local") for s in schedulers):
        print(f"Expected --schedulers from threads,local. Got {args.schedulers!r}.",
              file=sys.stderr)
        return 2
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    if repeats < 0:
        print(f"Expected --repeats >= 0. Got {repeats}.", file=sys.stderr)
        return 2
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    try:  # issue 17: an unusable --out is refused before minutes of work, not after
        from chunkpilot.commands.outputs import check_output_dir

        check_output_dir(out, name="--out")
    except ValueError as e:  # ChunkpilotError
        print(f"benchmarks: error: {e}", file=sys.stderr)
        return 2
    logging.getLogger("distributed").setLevel(logging.ERROR)
    from benchmarks.runner import run_workload

    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"{time.perf_counter() - t0:7.1f}s {msg}", file=sys.stderr, flush=True)

    for wl in workloads:
        path = run_workload(wl, quick=args.quick, repeats=repeats, schedulers=schedulers,
                            out_dir=out, log=log, mode=args.advise_mode)
        log(f"wrote {path}")
    summary = write_summary(out)
    log(f"wrote {summary} (whole run {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
