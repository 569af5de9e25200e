"""Every output path is refused before any work when it would overwrite an input, a directory
or a file chunkpilot did not write, or cannot be created (issue 17, item 1)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import chunkpilot
from chunkpilot.commands.outputs import (
    REPORT_MARKER,
    check_output_dir,
    check_output_path,
    is_chunkpilot_report,
)
from chunkpilot.errors import InvalidArgumentTypeError, OutputPathError
from tests.reliability.conftest import L, run_cli, snapshot


def _previous_report(path: Path) -> Path:
    from chunkpilot.report.html import write_report

    return write_report(path, title="old", plan=None, trials=[])


def test_reports_carry_the_marker_in_their_first_bytes(tmp_path: Path) -> None:
    path = _previous_report(tmp_path / "r.html")
    assert REPORT_MARKER in path.read_bytes()[:1024]
    assert is_chunkpilot_report(path)


# (id, how to make the path from (tmp_path, store), expected message, overwrite)
REFUSED = [
    ("store-metadata", lambda t, s: s / "zarr.json", "inside the input", False),
    ("store-metadata-even-with-overwrite", lambda t, s: s / "zarr.json", "inside the input", True),
    ("the-store-itself", lambda t, s: s, "inside the input", True),
    ("new-file-in-the-store", lambda t, s: s / "r.html", "inside the input", False),
    ("symlink-into-the-store", lambda t, s: _symlink(t, s / "zarr.json"), "inside the input", True),
    ("hard-link-to-a-store-file", lambda t, s: _hardlink(t, s / "zarr.json"), "hard links", True),
    ("empty", lambda t, s: "", "as a file path", False),
    ("blank", lambda t, s: "   ", "as a file path", False),
    ("proc", lambda t, s: "/proc/x.html", "cannot be created", False),
    ("device", lambda t, s: "/dev/null", "not a regular file", True),
    ("existing-directory", lambda t, s: t, "existing directory", True),
    ("trailing-slash", lambda t, s: f"{t}/new/", "names a directory", False),
    ("missing-directory", lambda t, s: t / "no" / "such" / "r.html", "does not exist", False),
    ("parent-is-a-file", lambda t, s: _file(t, "f.txt") / "r.html", "does not exist", False),
    ("existing-user-file", lambda t, s: _file(t, "notes.html"), "not a chunkpilot report", False),
    ("nul-byte", lambda t, s: "a\0b.html", "as a file path", False),
    ("name-too-long", lambda t, s: t / ("x" * 300 + ".html"), "cannot be (created|written)", False),
]


def _store_dir(d: Path) -> Path:
    import zarr

    zarr.create_array(str(d / "s.zarr"), shape=(4,), chunks=(2,), dtype="f4")
    return d / "s.zarr"


def _file(d: Path, name: str) -> Path:
    (d / name).write_text("my notes")
    return d / name


def _symlink(d: Path, target: Path) -> Path:
    (d / "link.html").symlink_to(target)
    return d / "link.html"


def _hardlink(d: Path, target: Path) -> Path:
    os.link(target, d / "hard.html")
    return d / "hard.html"


@pytest.mark.parametrize(("case", "make", "match", "overwrite"), REFUSED,
                         ids=[c[0] for c in REFUSED])
def test_refused_paths(case, make, match, overwrite, tmp_path: Path, store: Path) -> None:
    before = snapshot(store)
    path = make(tmp_path, store)
    with pytest.raises(OutputPathError, match=match):
        check_output_path(path, sources=[str(store)], overwrite=overwrite)
    assert snapshot(store) == before
    if case == "existing-user-file":
        assert Path(path).read_text() == "my notes"


@pytest.mark.parametrize("bad", [None, 5, b"r.html", ["r.html"]], ids=repr)
def test_non_path_types(bad: object) -> None:
    with pytest.raises(InvalidArgumentTypeError, match="as a file path"):
        check_output_path(bad)


def test_accepted_paths_leave_nothing_behind(tmp_path: Path) -> None:
    assert check_output_path(tmp_path / "new.html") == tmp_path / "new.html"
    assert not (tmp_path / "new.html").exists()  # probed by creating it, then removed
    old = _previous_report(tmp_path / "old.html")
    before = old.stat().st_mtime_ns
    check_output_path(old)  # a previous chunkpilot report may be replaced
    mine = _file(tmp_path, "mine.html")
    check_output_path(mine, overwrite=True)
    assert old.stat().st_mtime_ns == before and mine.read_text() == "my notes"


def test_the_input_file_itself_is_refused(tmp_path: Path) -> None:
    nc = _file(tmp_path, "data.nc")
    with pytest.raises(OutputPathError, match="inside the input"):
        check_output_path(nc, sources=[nc, {"kind": "hdf5", "path": str(nc)}], overwrite=True)


@pytest.mark.parametrize(
    ("make", "match"),
    [(lambda t: _file(t, "f"), "an existing file"), (lambda t: "/proc/x", "writable"),
     (lambda t: _file(t, "g") / "sub", "under an existing directory")],
    ids=["a-file", "proc", "under-a-file"])
def test_benchmark_out_dir(make, match, tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match=match):
        check_output_dir(make(tmp_path))
    with pytest.raises(OutputPathError, match="outside the inputs and zarr stores"):
        check_output_dir(_store_dir(tmp_path) / "results")
    assert check_output_dir(tmp_path / "new" / "dir") == tmp_path / "new" / "dir"


def test_tune_api_refuses_before_any_work(tmp_path: Path, store: Path) -> None:
    before = snapshot(store)
    with pytest.raises(OutputPathError, match="inside the input"):
        chunkpilot.tune(str(store), workers=1, threads_per_worker=1, memory_limit="400MiB",
                        report=str(store / "zarr.json"))
    assert snapshot(store) == before


def test_watch_report_refuses_a_directory(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        with chunkpilot.watch(client) as w:
            client.submit(sum, [1, 2]).result()
        with pytest.raises(OutputPathError, match="existing directory"):
            w.report(tmp_path)
        mine = _file(tmp_path, "mine.html")
        with pytest.raises(OutputPathError, match="not a chunkpilot report"):
            w.report(mine)
        assert mine.read_text() == "my notes"
        assert is_chunkpilot_report(w.report(mine, overwrite=True))


# --- the CLI: one line, exit 2, before any cluster starts, input untouched -----------------

def test_cli_tune_report_on_the_input_is_refused_up_front(tmp_path: Path, store: Path) -> None:
    """The issue's reproduction. (tests/test_bad_inputs.py runs the other refusals.)"""
    before = snapshot(store)
    r = run_cli(["tune", str(store), *L, "--report", str(store / "zarr.json")], tmp_path,
                timeout=120)
    r.one_error_line("inside the input")
    assert snapshot(store) == before
    r.nothing_left()  # no sandbox, no cluster scratch space: refused before any work


@pytest.mark.cluster
@pytest.mark.slow
def test_cli_tune_replaces_a_previous_report_and_overwrite_a_user_file(
        tmp_path: Path, store: Path, funcs: Path) -> None:
    """End to end: a previous report is replaced; a user's file only with --overwrite (the
    two runs side by side: each is a fresh interpreter and its own LocalCluster)."""
    old = _previous_report(tmp_path / "old.html")
    mine = _file(tmp_path, "mine.html")

    def tune_to(path: Path, extra: list[str]) -> None:
        r = run_cli(["tune", str(store), *L, "--max-trials", "1", "--report", str(path), *extra],
                    tmp_path / f"run-{path.stem}")
        assert r.proc.returncode == 0, r.proc.stderr[-3000:]

    with ThreadPoolExecutor(2) as pool:
        for f in [pool.submit(tune_to, old, []), pool.submit(tune_to, mine, ["--overwrite"])]:
            f.result()
    for path in (old, mine):
        assert is_chunkpilot_report(path) and "chunkpilot tune report" in path.read_text()


def test_the_function_file_is_an_input_too(tmp_path: Path) -> None:
    from chunkpilot.commands.outputs import code_files
    from chunkpilot.loader import load_callable

    (tmp_path / "myfuncs.py").write_text("def f(b):\n    return b\n")
    f = load_callable(f"{tmp_path / 'myfuncs.py'}:f")
    with pytest.raises(OutputPathError, match="inside the input"):
        check_output_path(tmp_path / "myfuncs.py", sources=code_files(f, None), overwrite=True)
    assert code_files(abs, None) == []  # builtins and ufuncs have no file


def test_a_quoted_home_path_is_expanded_as_the_shell_would(tmp_path: Path, monkeypatch) -> None:
    # hunt: `--report "~/r.html"` (quoted, so the shell left the ~) was refused: no directory '~'
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "data.zarr").mkdir()
    assert check_output_path("~/r.html") == tmp_path / "r.html"
    assert check_output_dir("~/out") == tmp_path / "out"
    with pytest.raises(OutputPathError, match="inside the input"):  # still an input, by any name
        check_output_path("~/data.zarr/r.html", sources=["~/data.zarr"])
