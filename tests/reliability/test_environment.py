"""The environment (issue 17, item 8): an address-space limit (``ulimit -v``) is worked
within, or named when it is what stops the function; an ASCII-only output encoding never
crashes the CLI."""

from __future__ import annotations

import json
import resource
from pathlib import Path

import pytest

from tests.reliability.conftest import run_cli

GiB = 2**30
#: Enough for the interpreter, numpy, dask and zarr, far below what the sandbox asks for
#: (its memory cap + 1 GiB on top of its current size).
ULIMIT_BYTES = 2 * GiB

FUNCS = """\
import numpy as np
def ok(b):
    return b * 2
def needs_4gib(b):
    big = np.ones(2**29)  # 4 GiB
    return b + big[0]
"""


def _ulimit_v() -> None:  # runs in the child before exec, as `ulimit -v` would
    resource.setrlimit(resource.RLIMIT_AS, (ULIMIT_BYTES, ULIMIT_BYTES))


@pytest.fixture(scope="module")
def env_funcs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("envfuncs") / "envfuncs.py"
    path.write_text(FUNCS)
    return path


def test_under_ulimit_v_a_correct_function_is_profiled(tmp_path: Path, store: Path,
                                                       env_funcs: Path) -> None:
    r = run_cli(["advise", str(store), "--scheduler", "threads", "--memory-limit", "4GiB",
                 "--func", f"{env_funcs}:ok", "--json"], tmp_path, preexec_fn=_ulimit_v)
    assert r.proc.returncode == 0, r.proc.stderr[-3000:]
    assert json.loads(r.proc.stdout)["chunks"]
    r.nothing_left()


def test_under_ulimit_v_the_limit_is_named(tmp_path: Path, store: Path, env_funcs: Path) -> None:
    r = run_cli(["advise", str(store), "--scheduler", "threads", "--memory-limit", "8GiB",
                 "--func", f"{env_funcs}:needs_4gib"], tmp_path, preexec_fn=_ulimit_v)
    r.one_error_line(r"address-space limit of 2048 MiB .*\(ulimit -v\)")
    r.nothing_left()


ASCII = {"PYTHONIOENCODING": "ascii"}


@pytest.mark.parametrize(
    ("args", "code"),
    [(["advise", "{store}", "--scheduler", "threads"], 0),
     (["check", "{store}", "--memory-limit", "1GiB"], 1),
     (["advise", "{store}", "--scheduler", "threads", "--memory-limit", "4 GiB\u00b5"], 2),
     (["check", "{store}", "--array", "\u00e9t\u00e9"], 2)],
    ids=["advise-table", "check-lines", "error-with-micro-sign", "error-with-accents"])
def test_ascii_only_output_never_crashes(args, code, tmp_path: Path, store: Path) -> None:
    r = run_cli([a.format(store=store) for a in args], tmp_path, env=ASCII)
    assert r.proc.returncode == code, r.proc.stderr[-3000:]
    assert "Traceback" not in r.proc.stderr and "UnicodeEncodeError" not in r.proc.stderr
    if code == 2:
        assert len(r.err_lines) == 1 and r.err_lines[0].startswith("chunkpilot: error: ")
    else:
        assert r.proc.stdout.strip()
