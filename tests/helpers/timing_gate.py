"""Tests marked ``timing`` run alone while the rest of the suite runs on two xdist workers.

A ``timing`` test (not also ``beside_others``) asserts on measured time or CPU (busy
cores, probes, diagnoses, chunk sizes picked from measurements); another test running beside
it on this 2-core machine would be measured with it. The gate is a readers-writer lock on
two files shared by the workers: every other test holds ``run.lock`` shared; a timing test
takes ``gate.lock`` exclusive (no new test starts) and then ``run.lock`` exclusive (the test
already running ends first).
In one process (``-n 0``) the gate does nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

LOCK_DIR_KEY = "chunkpilot_timing_lock_dir"


def gated(item: pytest.Item | None) -> bool:
    """Whether ``item`` runs alone: marked ``timing`` (itself or its module), and not
    ``beside_others`` (a test of a timing module that asserts no measurement)."""
    return (item is not None and item.get_closest_marker("timing") is not None
            and item.get_closest_marker("beside_others") is None)


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    with open(path, "a+b") as f:
        fcntl.flock(f, mode)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def alone(directory: Path) -> Iterator[None]:
    """Held while no other test of the session runs."""
    with _flock(directory / "gate.lock", fcntl.LOCK_EX), \
            _flock(directory / "run.lock", fcntl.LOCK_EX):
        yield


@contextlib.contextmanager
def beside_others(directory: Path) -> Iterator[None]:
    """Held while other non-timing tests may run, but no timing test."""
    with _flock(directory / "gate.lock", fcntl.LOCK_SH):
        pass  # waits while a timing test holds or waits for the run lock
    with _flock(directory / "run.lock", fcntl.LOCK_SH):
        yield


class TimingGate:
    """The controller makes the lock directory and hands it to each worker; workers gate."""

    def __init__(self) -> None:
        self._owned: tempfile.TemporaryDirectory[str] | None = None
        self._alone: contextlib.ExitStack | None = None  # held across consecutive timing tests

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:  # xdist: on the controller, per worker
        if self._owned is None:
            self._owned = tempfile.TemporaryDirectory(prefix="pytest-timing-gate-")
        node.workerinput[LOCK_DIR_KEY] = self._owned.name

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._owned is not None:
            self._owned.cleanup()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        directory = getattr(item.config, "workerinput", {}).get(LOCK_DIR_KEY)
        if directory is None:
            yield
            return
        if not gated(item):
            with beside_others(Path(directory)):
                yield
            return
        # a run of timing tests (a timing file) keeps the machine to itself: released per
        # test, each next one waited for the other worker's test that slipped in between
        if self._alone is None:
            self._alone = contextlib.ExitStack()
            self._alone.enter_context(alone(Path(directory)))
        try:
            yield
        finally:
            if not gated(nextitem):
                self._alone.close()
                self._alone = None


def lock_dir_exists(config: pytest.Config) -> bool:
    """True on an xdist worker whose controller made the gate (used by the gate's own test)."""
    directory = getattr(config, "workerinput", {}).get(LOCK_DIR_KEY)
    return directory is not None and os.path.isdir(directory)
