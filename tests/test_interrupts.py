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
