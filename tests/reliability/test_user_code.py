"""The user's code misbehaving (issue 17, item 6): stdout carries only the result; exits and
odd exceptions at import are load errors; leftover threads and processes are not "timeouts"
and do not survive; a KeyboardInterrupt in a worker is a failed task, not a flood."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

import psutil
import pytest

import chunkpilot
from chunkpilot.errors import FunctionLoadError, ProfilingError
from chunkpilot.loader import load_callable
from tests.reliability.conftest import L, run_cli

IMPORT_MISBEHAVIOUR = [
    ("sys-exit-0", "import sys\nsys.exit(0)\n", r"sys\.exit\(0\) at import"),
    ("sys-exit-message", "raise SystemExit('bye')\n", r"sys\.exit\('bye'\) at import"),
    ("os-exit", "import os\nos._exit(0)\n", r"os\._exit\(0\) at import"),
    ("base-exception", "class Stop(BaseException): pass\nraise Stop('no')\n", "Stop: no"),
    ("keyboard-interrupt", "raise KeyboardInterrupt\n", "KeyboardInterrupt at import"),
    ("generator-exit", "raise GeneratorExit\n", "GeneratorExit"),
    ("module-getattr-exits", "import sys\ndef __getattr__(n): sys.exit(4)\n", r"sys\.exit\(4\)"),
]


def _module(d: Path, name: str, text: str) -> Path:
    path = d / f"{name.replace('-', '_')}.py"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("name", "text", "match"), IMPORT_MISBEHAVIOUR,
                         ids=[c[0] for c in IMPORT_MISBEHAVIOUR])
def test_import_misbehaviour_is_a_load_error(name, text, match, tmp_path: Path) -> None:
    from chunkpilot import interrupts

    path = _module(tmp_path, name, text)
    # as the CLI runs it: a plain KeyboardInterrupt then comes from the module, not a terminal
    with interrupts.handled(), pytest.raises(FunctionLoadError, match=match):
        load_callable(f"{path}:f")


def test_cli_keyboard_interrupt_at_import_is_a_load_error(tmp_path: Path, store: Path) -> None:
    """In the CLI a real Ctrl-C is our signal handler's; a module raising KeyboardInterrupt
    is a load error. (sys.exit, os._exit, BaseException: rows of tests/test_bad_inputs.py.)"""
    name, text, match = IMPORT_MISBEHAVIOUR[4]
    path = _module(tmp_path, name, text)
    r = run_cli(["advise", str(store), "--scheduler", "threads", "--func", f"{path}:f", "--json"],
                tmp_path / "run")
    r.one_error_line(match)
    assert r.proc.stdout == ""
    r.nothing_left()


@pytest.mark.parametrize("spec", ["{d}/pkgdir.py:f", "{d}/pkgdir:f"], ids=["dir.py", "dir"])
def test_a_directory_given_as_file(spec: str, tmp_path: Path) -> None:
    (tmp_path / "pkgdir.py").mkdir()
    (tmp_path / "pkgdir").mkdir()
    with pytest.raises(FunctionLoadError, match="Got a directory"):
        load_callable(spec.format(d=tmp_path))


def test_import_prints_go_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "noisy.py"
    path.write_text("print('NOISY IMPORT')\ndef f(b):\n    return b\n")
    load_callable(f"{path}:f")
    out, err = capsys.readouterr()
    assert out == "" and "NOISY IMPORT" in err


def test_cli_advise_json_stdout_is_only_json(tmp_path: Path, store: Path, funcs: Path) -> None:
    """Prints at import, in map_blocks' meta inference and in the sandbox stay off stdout."""
    r = run_cli(["advise", str(store), "--scheduler", "threads", "--func", f"{funcs}:ident",
                 "--json"], tmp_path)
    assert r.proc.returncode == 0, r.proc.stderr[-3000:]
    doc = json.loads(r.proc.stdout)
    assert doc["chunks"] and "PRINTED AT IMPORT" in r.proc.stderr
    r.nothing_left()


@pytest.mark.cluster
@pytest.mark.slow
def test_cli_tune_json_stdout_is_only_json(tmp_path: Path, store: Path, funcs: Path) -> None:
    """...and so do prints in LocalCluster workers."""
    r = run_cli(["tune", str(store), "--func", f"{funcs}:ident", *L, "--max-trials", "1",
                 "--json"], tmp_path)
    assert r.proc.returncode == 0, r.proc.stderr[-3000:]
    doc = json.loads(r.proc.stdout)
    assert doc["trials"] and "PRINTED IN THE FUNCTION" in r.proc.stderr
    assert "Traceback" not in r.proc.stderr


def test_a_leftover_non_daemon_thread_is_not_a_timeout(funcs: Path) -> None:
    import dask.array as da

    f = load_callable(f"{funcs}:leaves_thread")
    plan = chunkpilot.advise(da.zeros((256, 256), chunks=64), f, scheduler="threads",
                             profile_timeout=20)
    assert plan.model.samples and all(s.ok for s in plan.model.samples), plan.model.samples


def _grandchildren() -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if "chunkpilot-grandchild" in " ".join(p.cmdline()):
                out.append(p)
    return out


def test_a_sample_that_times_out_takes_its_children_with_it(funcs: Path) -> None:
    import dask.array as da

    f = load_callable(f"{funcs}:spawns_and_hangs")
    with pytest.raises(ProfilingError, match="timed out after 3.00 s"):
        chunkpilot.advise(da.zeros((256, 256), chunks=64), f, scheduler="threads",
                          profile_timeout=3)
    deadline = time.monotonic() + 10
    while _grandchildren() and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _grandchildren()
    for p in left:
        p.kill()
    assert not left, "the sandbox's child outlived it"


@pytest.mark.cluster
@pytest.mark.slow
def test_a_keyboard_interrupt_in_a_worker_is_a_failed_trial(
        tmp_path: Path, store: Path, funcs: Path) -> None:
    """(sys.exit in a worker already was a failed task; KeyboardInterrupt killed it.)"""
    r = run_cli(["tune", str(store), "--func", f"{funcs}:interrupt_in_worker", *L,
                 "--max-trials", "1",
                 "--trial-timeout", "60"], tmp_path)
    assert r.proc.returncode == 2, r.proc.stderr[-3000:]
    assert "Traceback" not in r.proc.stderr
    errors = [ln for ln in r.err_lines if ln.startswith("chunkpilot: error:")]
    assert len(errors) == 1 and "at least one trial" in errors[0], r.proc.stderr[-3000:]
    # the interrupt is named once: in the error line, as the trials' own error
    assert "the first error: RuntimeError: the function raised KeyboardInterrupt" in errors[0]
    assert r.proc.stderr.count("KeyboardInterrupt") == 1, r.proc.stderr
    assert len(r.err_lines) <= 4, r.proc.stderr  # the import print, a trial line, the error


def test_cli_output_into_a_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    """``chunkpilot check ... --json | head -c 10``: the reader leaves early."""
    import os
    import subprocess

    import zarr

    from tests.reliability.conftest import CLI

    path = tmp_path / "many.zarr"
    zarr.create_array(str(path), shape=(10**5,), chunks=(1,), dtype="f4")  # ~600 kB of JSON
    proc = subprocess.Popen([*CLI, "check", str(path), "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.stdout.read(10) == b'{"ok": fal'
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(120)
    proc.stderr.close()
    assert proc.returncode == 0 and err == "", err


def test_text_output_into_a_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    """``chunkpilot advise ... | head -1``: rich's console ended the program with
    ``SystemExit(1)`` on the broken pipe, which the CLI took for user code and exited 2."""
    import fcntl
    import os
    import subprocess

    import zarr

    from tests.reliability.conftest import CLI

    path = tmp_path / "x.zarr"
    zarr.create_array(str(path), shape=(2048, 2048), chunks=(256, 256), dtype="f4")[:] = 1
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, 1031, 4096)  # F_SETPIPE_SZ: the ~5 kB plan cannot all fit
    proc = subprocess.Popen([*CLI, "advise", str(path), "--scheduler", "threads"],
                            stdout=write_end,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        assert reader.read(10)
    err = proc.stderr.read().decode()
    proc.wait(120)
    proc.stderr.close()
    assert proc.returncode == 0 and err == "", (proc.returncode, err)


def test_a_module_cannot_change_the_process_at_import(tmp_path: Path) -> None:
    """cwd, sys.stderr and our signal handlers are put back after the import."""
    import os
    import signal
    import sys

    from chunkpilot import interrupts

    path = tmp_path / "rude.py"
    path.write_text("import os, signal, sys\nos.chdir('/')\n"
                    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                    "sys.stderr = open(os.devnull, 'w')\ndef f(b):\n    return b\n")
    cwd, err = os.getcwd(), sys.stderr
    # Python's own handler to start from (a run launched in the background inherits SIG_IGN)
    original = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with interrupts.handled():
            load_callable(f"{path}:f")
            assert interrupts.installed()
        assert os.getcwd() == cwd and sys.stderr is err
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, original)


def test_a_module_in_the_working_directory_is_found_as_python_m_finds_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hunt 17: the README's ``--func mymodule:my_func`` failed with the installed
    ``chunkpilot`` command ("No module named 'mymodule'"), whose ``sys.path`` starts at its
    script's directory, not the working directory as ``python -m`` does. It is appended, so
    an installed module of the same name still wins."""
    (tmp_path / "beside_module.py").write_text("def f(b):\n    return b + 1\n")
    (tmp_path / "json.py").write_text("def f(b):\n    return b\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "beside_module", raising=False)
    f = load_callable("beside_module:f")
    assert f(1) == 2 and sys.path[-1] == str(tmp_path)
    with pytest.raises(FunctionLoadError, match="to define 'f'"):
        load_callable("json:f")  # the standard library's json, not the file beside
