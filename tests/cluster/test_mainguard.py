"""A script that lets chunkpilot start a LocalCluster without ``if __name__ ==
"__main__":`` gets one sentence naming the guard, in its own process and in the workers'
(hunt: the README's example run as a script ended in 338 lines of distributed traceback,
``RuntimeError: Nanny failed to start``, the script re-run in every worker)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chunkpilot.cluster.mainguard import in_worker_start

SCRIPT = """
import numpy as np
import chunkpilot
print("script ran")
chunkpilot.advise(np.ones((256, 256)), np.negative, workers=1, memory_limit="400MiB")
"""


def test_a_call_from_a_script_imported_again_in_a_worker_is_told_apart():
    assert not in_worker_start()
    here: dict = {"__name__": "__mp_main__", "in_worker_start": in_worker_start}
    exec("found = in_worker_start()", here)  # what spawn runs the script as in a worker
    assert here["found"]
    exec("def f():\n    return in_worker_start()", here)
    assert not here["f"]()  # the script's function, called by a process pool's worker


@pytest.mark.cluster
def test_an_unguarded_script_is_told_to_add_the_main_guard(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(SCRIPT)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=180, cwd=tmp_path)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("chunkpilot.errors.SchedulerError: Expected the LocalCluster's "
                           "workers to start."), r.stderr[-3000:]
    assert 'under `if __name__ == "__main__":`' in last
    # every worker that imported the script stopped at the same sentence, not deep inside
    assert r.stderr.count("Got a worker process starting up.") >= 1, r.stderr[-3000:]
