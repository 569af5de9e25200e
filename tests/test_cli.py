"""The CLI through real subprocesses on real zarr stores in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from tests.helpers.cli_runs import CLI, run_forked
from tests.helpers.processes import FAST_CONNECT_ENV


def run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONWARNINGS": "ignore", **FAST_CONNECT_ENV})


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "data.zarr"
    z = zarr.create_array(str(path), shape=(1024, 2048), chunks=(128, 256), dtype="float32")
    z[:] = np.random.default_rng(0).standard_normal((1024, 2048), dtype="float32")
    return path


@pytest.fixture(scope="module")
def funcs(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("funcs") / "userfuncs.py"
    path.write_text(
        "import numpy as np\n"
        "def hungry(b):\n    t = [b * i for i in range(3)]\n    return sum(t)\n"
        "def boom(b):\n    raise RuntimeError('user bug')\n"
        "NOT_CALLABLE = 3\n"
    )
    return path


def test_advise_json_on_zarr_store(store, funcs):
    r = run("advise", str(store), "--func", f"{funcs}:hungry", "--scheduler", "threads",
            "--memory-limit", "1GiB", "--keep-whole", "1", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)  # exactly one JSON object
    assert d["shape"] == [1024, 2048] and d["dtype"] == "float32"
    assert d["storage_chunks"] == [128, 256]
    assert d["chunk_shape"][1] == 2048  # kept whole
    assert sum(d["chunks"][0]) == 1024
    assert d["chunk_shape"][0] % 128 == 0
    assert d["scheduler"] == "threads"
    assert len(d["measured"]["samples"]) >= 3
    assert d["measured"]["overhead_seconds_per_task"] > 0
    assert d["binding_constraint"] in {"memory", "overhead", "speed", "parallelism", "storage",
                                       "keep_whole", "array_size"}
    assert d["explanation"] and d["dask_auto_chunk_shape"]


def test_advise_human_output_with_depth(store):
    r = run("advise", str(store), "--scheduler", "threads", "--depth", "0=4,1=4", "-v")
    assert r.returncode == 0, r.stderr
    assert "Recommended chunks" in r.stdout and "dask" in r.stdout  # results: stdout
    assert f"x = da.from_zarr({str(store)!r}, chunks=" in r.stdout  # how to apply, for zarr
    assert "Recommended chunks" not in r.stderr
    assert "sample (" in r.stderr and "sample (" not in r.stdout  # progress (-v): stderr
    assert "\x1b[" not in r.stderr  # no progress display when stderr is not a terminal


def test_help_version_and_usage_errors():
    for args in (["-h"], ["--help"], ["advise", "-h"], ["check", "-h"]):
        r = run(*args)
        assert r.returncode == 0 and r.stdout.startswith("Usage: chunkpilot"), (args, r.stderr)
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("chunkpilot 0.") and "dask " in r.stdout
    r = run("advise")
    assert r.returncode == 2
    assert r.stderr.strip().endswith("Try 'chunkpilot advise --help'.")
    r = run("advise", "x.zarr", "--bogus")
    assert r.stderr.strip().endswith("Try 'chunkpilot advise --help'.")
    assert run("nope").stderr.strip().endswith("Try 'chunkpilot --help'.")


def test_tune_help_offers_only_what_tune_accepts():
    text = " ".join(run("tune", "--help").stdout.split())
    scheduler = text[text.index("--scheduler"):text.index("--keep-whole")]
    assert "processes" in scheduler and "tcp://" in scheduler
    assert "threads" in scheduler and "synchronous" not in scheduler
    advise = " ".join(run("advise", "--help").stdout.split())
    assert "synchronous" in advise[advise.index("--scheduler"):advise.index("--keep-whole")]


#: (id, arguments, what the one stderr line says); ``{store}`` and ``{funcs}`` are filled in.
BAD_INPUTS = [
    ("missing-path", ["advise", "/nonexistent/x.zarr"], "does not exist"),
    ("bad-unit", ["advise", "{store}", "--memory-limit", "4 gigs"], "memory_limit"),
    ("negative-size", ["advise", "{store}", "--memory-limit", "-1GiB"], "memory_limit"),
    ("zero-workers", ["advise", "{store}", "--workers", "0"], "workers"),
    ("negative-threads", ["advise", "{store}", "--threads-per-worker", "-2"],
     "threads_per_worker"),
    ("axis-out-of-range", ["advise", "{store}", "--keep-whole", "5"], "keep_whole"),
    ("bad-depth", ["advise", "{store}", "--depth", "x:y"], "--depth"),
    ("missing-module", ["advise", "{store}", "--func", "no_such_module_xyz:f"],
     "no_such_module_xyz"),
    ("missing-attr", ["advise", "{store}", "--func", "{funcs}:missing"], "does not"),
    ("not-callable", ["advise", "{store}", "--func", "{funcs}:NOT_CALLABLE"], "callable"),
    ("func-raises", ["advise", "{store}", "--func", "{funcs}:boom", "--scheduler", "threads"],
     "user bug"),
    ("bad-scheduler", ["advise", "{store}", "--scheduler", "bogus"], "scheduler"),
    ("unreachable-scheduler", ["advise", "{store}", "--scheduler", "tcp://127.0.0.1:1"],
     "reachable"),
    ("malformed-address", ["advise", "{store}", "--scheduler", "tcp://no port"], "address"),
    ("array-on-array", ["advise", "{store}", "--array", "x"], "--array"),
    ("no-source", ["advise"], "Missing argument"),
    ("non-int-workers", ["advise", "{store}", "--workers", "two"], "two"),
    # hunt 11: named the keyword (trial_timeout_s), read 1.5 as 1 byte, accepted a lone 0
    ("negative-trial-timeout", ["tune", "{store}", "--trial-timeout", "-5"],
     "Expected --trial-timeout as a positive"),
    ("negative-profile-timeout", ["advise", "{store}", "--profile-timeout", "-5"],
     "Expected --profile-timeout as a positive"),
    ("memory-limit-without-unit", ["advise", "{store}", "--memory-limit", "1.5"],
     "write its unit ('1.5GiB'?)"),
    ("interval-without-follow", ["watch", "tcp://127.0.0.1:1", "--interval", "0"],
     "Expected --interval with --follow"),
    # hunt 12: "²".isdigit() is true and int("²") raised ValueError (internal error, exit 1)
    ("unicode-digit-axis", ["advise", "{store}", "--keep-whole", "²"], "keep_whole as axis"),
    ("unicode-digit-chunks", ["check", "{store}", "--chunks", "²=5"], "²"),
    ("zero-interval", ["watch", "tcp://127.0.0.1:1", "--follow", "--interval", "0"],
     "interval > 0"),
]


@pytest.fixture(scope="module")
def bad_input_runs(store, funcs, tmp_path_factory) -> dict[str, Any]:
    """Every bad input once, each a real console run forked from one interpreter that
    imported the CLI (``tests/helpers/cli_runs.py``): ~2 s of imports shared, not repeated."""
    return run_forked({cid: [a.format(store=store, funcs=funcs) for a in args]
                       for cid, args, _ in BAD_INPUTS},
                      tmp_path_factory.mktemp("bad-cli"), env=FAST_CONNECT_ENV)


@pytest.mark.parametrize(("cid", "message"), [(c, m) for c, _, m in BAD_INPUTS],
                         ids=[c for c, _, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2(bad_input_runs, cid, message):
    r, _ = bad_input_runs[cid]
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert message in lines[0]


def test_a_one_line_error_imports_no_object_store_client(tmp_path):
    """Closing object-store sessions at exit only looks at filesystems already imported:
    importing s3fs (botocore) to look took 0.3 s of every command, a bad argument included."""
    code = ("import sys\n"
            "from chunkpilot.cli import main\n"
            f"sys.argv = ['chunkpilot', 'advise', {str(tmp_path / 'missing.zarr')!r}, "
            "'--workers', '-3']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
            "print(code, 's3fs' in sys.modules, 'botocore' in sys.modules, file=sys.__stderr__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stderr.split()[-3:] == ["2", "False", "False"], out.stderr[-2000:]


def test_quoted_home_paths_are_expanded_for_the_store_and_the_function(tmp_path):
    # hunt: `advise "~/data.zarr"` (quoted: the shell leaves the ~) said the store is missing
    z = zarr.create_array(str(tmp_path / "data.zarr"), shape=(256, 256), chunks=(64, 64),
                          dtype="float32")
    z[:] = 1.0
    (tmp_path / "f.py").write_text("def double(b):\n    return 2 * b\n")
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONWARNINGS": "ignore", **FAST_CONNECT_ENV}
    r = subprocess.run([*CLI, "advise", "~/data.zarr", "--func", "~/f.py:double", "--scheduler",
                        "threads", "--json"], capture_output=True, text=True, timeout=240,
                       env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["shape"] == [256, 256]
    r = subprocess.run([*CLI, "check", "~/data.zarr"], capture_output=True, text=True,
                       timeout=240, env=env)
    assert r.returncode in (0, 1) and "(256, 256)" in r.stdout, r.stderr


@pytest.mark.parametrize(("value", "shows"), [("1", True), ("yes", True), ("0", False),
                                              ("false", False), ("", False)])
def test_chunkpilot_traceback_0_means_off(monkeypatch, capsys, value, shows):
    # before: any non-empty value, "0" too, let the traceback through
    import chunkpilot.cli as cli_module

    def boom(ctx):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli_module.cli, "invoke", boom)
    monkeypatch.setenv("CHUNKPILOT_TRACEBACK", value)
    if shows:
        with pytest.raises(RuntimeError, match="a bug"):
            cli_module._run(["advise", "x.zarr"])
        return
    assert cli_module._run(["advise", "x.zarr"]) == cli_module.EXIT_INTERNAL
    assert "internal error: RuntimeError: a bug" in capsys.readouterr().err
