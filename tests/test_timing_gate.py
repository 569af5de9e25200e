"""The gate that lets ``timing`` tests run alone beside xdist's other workers."""

from __future__ import annotations

import threading

import pytest

from tests.helpers.timing_gate import alone, beside_others, gated


def _enter_later(ctx) -> tuple[threading.Thread, threading.Event]:
    """Enter ``ctx`` in a thread (flock locks separate opens even within one process)."""
    entered = threading.Event()

    def run() -> None:
        with ctx:
            entered.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, entered


def test_a_timing_test_waits_for_the_running_test_and_holds_new_ones_back(tmp_path):
    with beside_others(tmp_path):
        timing, timing_in = _enter_later(alone(tmp_path))
        assert not timing_in.wait(0.3)  # the test already running ends first
        # an ordinary test starting now waits too: the timing test took the gate first, so a
        # stream of ordinary tests cannot starve it
        other, other_in = _enter_later(beside_others(tmp_path))
        assert not other_in.wait(0.3)
    assert timing_in.wait(10)
    timing.join(10)
    assert other_in.wait(10)
    other.join(10)


def test_ordinary_tests_run_side_by_side(tmp_path):
    with beside_others(tmp_path):
        t, entered = _enter_later(beside_others(tmp_path))
        assert entered.wait(10)
        t.join(10)


def test_two_timing_tests_take_turns(tmp_path):
    with alone(tmp_path):
        t, entered = _enter_later(alone(tmp_path))
        assert not entered.wait(0.3)
    assert entered.wait(10)
    t.join(10)



@pytest.mark.timing
def test_a_timing_test_runs_alone(request):
    assert gated(request.node)


@pytest.mark.timing
@pytest.mark.beside_others
def test_a_timing_test_marked_beside_others_does_not(request):
    """In a module marked ``timing``, a test that asserts no measurement (an error report)."""
    assert not gated(request.node)
    assert not gated(None)  # the session's last test has no next one
