"""The CLI's last sweep after a signal (``chunkpilot.interrupts``), on real processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import os, subprocess, sys, time
    import psutil
    from chunkpilot import interrupts
    if sys.argv[1] == "subreaper":
        assert interrupts.become_subreaper()
    # a child that starts a grandchild (a nanny starting a worker) and dies at once
    middle = subprocess.Popen([sys.executable, "-c",
        "import subprocess, sys; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print(p.pid, flush=True)"], stdout=subprocess.PIPE, text=True)
    orphan = int(middle.stdout.readline())
    middle.wait()
    time.sleep(0.2)
    mine = orphan in [p.pid for p in psutil.Process().children(recursive=True)]
    interrupts.final_sweep()
    print(mine, psutil.pid_exists(orphan) and psutil.Process(orphan).status() != "zombie")
    if psutil.pid_exists(orphan):
        psutil.Process(orphan).kill()
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_CHILD_SUBREAPER")
@pytest.mark.parametrize(("mode", "expected"), [("subreaper", "True False"),
                                                ("plain", "False True")])
def test_orphaned_grandchild_is_swept_only_when_we_are_its_subreaper(mode, expected):
    """Without the subreaper an orphan (a worker whose nanny was killed) escapes the sweep
    and lives on: the control case shows the test can fail."""
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == expected.split()


LOCK_THEN_EXIT = textwrap.dedent("""
    import multiprocessing, os, sys
    from chunkpilot import interrupts
    lock = multiprocessing.get_context("spawn").Lock()  # a named semaphore, tracked
    if sys.argv[1] == "sweep":
        interrupts.final_sweep()
    os._exit(130)  # as the CLI leaves after a signal
""")


@pytest.mark.parametrize(("mode", "warned"), [("sweep", False), ("no-sweep", True)])
def test_no_leaked_semaphore_warning_after_the_last_sweep(mode, warned):
    """A semaphore alive at ``os._exit`` (a nanny's queue while a LocalCluster starts) made
    multiprocessing's resource tracker warn on stderr after the CLI's one line; the last
    sweep unlinks it. The control case shows the warning comes without it."""
    out = subprocess.run([sys.executable, "-c", LOCK_THEN_EXIT, mode], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 130
    assert ("leaked semaphore" in out.stderr) is warned, out.stderr


SPAWN_AFTER_SWEEP = textwrap.dedent("""
    import subprocess, sys
    from chunkpilot import interrupts
    if sys.argv[1] == "sweep":
        interrupts.final_sweep()
        interrupts.final_sweep()  # the watchdog's and the CLI's: the line still gets out
    # a worker spawned after the sweep, dying noisily as the CLI leaves
    subprocess.run([sys.executable, "-c", "import sys; sys.exit('Traceback: EOFError')"])
    print("chunkpilot: interrupted", file=sys.stderr)
    print("result", flush=True)
""")


@pytest.mark.parametrize(("mode", "stderr"), [
    ("sweep", "chunkpilot: interrupted\n"),
    ("no-sweep", "Traceback: EOFError\nchunkpilot: interrupted\n"),
])
def test_a_child_spawned_after_the_last_sweep_prints_nothing(mode, stderr):
    """After the last sweep only our one line reaches stderr: a child started later (a
    LocalCluster's worker spawned in distributed's thread) writes to /dev/null. stdout, a
    separate pipe, is untouched. The control case shows the child's noise without it."""
    out = subprocess.run([sys.executable, "-c", SPAWN_AFTER_SWEEP, mode], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stderr == stderr
    assert out.stdout == "result\n"
