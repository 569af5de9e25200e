"""SIGINT, SIGTERM and SIGHUP at several moments of ``tune`` (issue 17, item 4): one line on
stderr, exit code 128 + signal, no process left, nothing left in a private TMPDIR
(``chunkpilot-*`` or ``dask-scratch-space``).

SIGINT and SIGHUP go to the whole process group, as a terminal sends them (Ctrl-C, closing
the terminal); SIGTERM goes to the CLI's pid only, as ``kill`` does. The cases run three at a
time (each is a fresh interpreter with a LocalCluster); no durations are asserted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.helpers.processes import alive as _alive
from tests.reliability.conftest import CLI, HANG_IN_SECOND_TRIAL, SAMPLE_SLEEP_ENV, in_second_trial

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

#: How long the CLI may take to clean up and exit after a signal (a timeout, not a measure).
PROMPT_S = 60
#: How long to wait for a moment (profiling or a trial) to come.
MOMENT_S = 240
#: (signal, sent to the group?, moment)
CASES = [(s, s != signal.SIGTERM, m)
         for m in ("profiling", "trial")
         for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]
CASES.append((signal.SIGTERM, False, "cluster-start"))


@dataclass
class Outcome:
    returncode: int | None
    stderr: list[str]
    alive: list[tuple[int, str]]
    leftovers: list[str]
    reached: bool
    sandbox_at_signal: bool = False


def _cmd(p: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return " ".join(p.cmdline())
    return ""


def _reached(moment: str, kids: list[psutil.Process], markers: Path) -> bool:
    if moment == "profiling":
        return any("chunkpilot.measure.child" in _cmd(k) for k in kids)
    if moment == "trial":  # the second trial: it cannot finish before the signal
        return in_second_trial(markers)
    return any("multiprocessing" in _cmd(k) and "resource_tracker" not in _cmd(k) for k in kids)


@pytest.fixture(scope="module")
def slow_funcs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("slow") / "slowfuncs.py"
    path.write_text(HANG_IN_SECOND_TRIAL)
    return path


def _run(case: tuple[signal.Signals, bool, str], store: Path, funcs: Path, root: Path
         ) -> Outcome:
    sig, group, moment = case
    d = root / f"{sig.name}-{moment}"
    tmp, cwd, markers = d / "tmp", d / "cwd", d / "markers"
    for sub in (tmp, cwd, markers):
        sub.mkdir(parents=True)
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONWARNINGS": "ignore",
           "CHUNKPILOT_TEST_MARKERS": str(markers),
           SAMPLE_SLEEP_ENV: "0.2" if moment == "profiling" else "0"}
    proc = subprocess.Popen(
        [*CLI, "tune", str(store), "--func", f"{funcs}:slow", "--workers", "1",
         "--threads-per-worker", "1", "--memory-limit", "1GiB", "--max-trials", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
        start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")),
                              daemon=True)
    reader.start()
    family: list[psutil.Process] = []
    reached = sandbox = False
    try:
        deadline = time.monotonic() + MOMENT_S
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                family = psutil.Process(proc.pid).children(recursive=True)
            if _reached(moment, family, markers):
                reached = True
                break
            time.sleep(0.05)
        sandbox = any("chunkpilot.measure.child" in _cmd(k) for k in family)
        (os.killpg if group else os.kill)(proc.pid, sig)
        proc.wait(PROMPT_S)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(10)
        proc.stdout.close()
        proc.stderr.close()
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in family) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [(p.pid, _cmd(p)) for p in family if _alive(p)]
    for pid, _ in alive:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()
    strays = [(p.pid, _cmd(p)) for p in psutil.process_iter() if str(tmp) in _cmd(p)]
    return Outcome(proc.returncode, [ln for ln in lines if not ln.lstrip().startswith("trial ")],
                   alive + strays, sorted(p.name for p in tmp.iterdir()), reached, sandbox)


@pytest.fixture(scope="module")
def outcomes(store: Path, slow_funcs: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, Outcome]:
    root = tmp_path_factory.mktemp("signals")
    with ThreadPoolExecutor(3) as pool:
        futures = {_id(c): pool.submit(_run, c, store, slow_funcs, root) for c in CASES}
        return {k: f.result() for k, f in futures.items()}


def _id(case: tuple[signal.Signals, bool, str]) -> str:
    sig, group, moment = case
    return f"{sig.name}-{'group' if group else 'pid'}-during-{moment}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_signal(case, outcomes: dict[str, Outcome]) -> None:
    sig, _, _ = case
    o = outcomes[_id(case)]
    assert o.reached, o.stderr
    assert o.returncode == 128 + int(sig), o.stderr
    expected = "chunkpilot: interrupted" + ("" if sig == signal.SIGINT else f" by {sig.name}")
    assert [ln.rstrip("\n") for ln in o.stderr] == [expected], "".join(o.stderr)[-3000:]
    assert o.alive == [], o.alive
    assert o.leftovers == [], o.leftovers
    if case[2] == "trial":  # trials run on the LocalCluster's workers, no sandbox left over
        assert not o.sandbox_at_signal


def test_exit_codes_and_lines() -> None:
    from chunkpilot import interrupts
    from chunkpilot.errors import Interrupted

    assert interrupts.exit_code(KeyboardInterrupt()) == 130
    assert [interrupts.exit_code(Interrupted(s)) for s in interrupts.SIGNALS] == [130, 143, 129]
    assert interrupts.describe(Interrupted(signal.SIGHUP)) == "chunkpilot: interrupted by SIGHUP"
