"""CLI output streams: results on stdout, progress and logs on stderr, logging restored."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console

from chunkpilot.report.progress import Output

from .samples import trials


def _consoles(terminal: bool) -> tuple[Console, Console, io.StringIO]:
    err = io.StringIO()
    return (Console(file=io.StringIO()),
            Console(file=err, force_terminal=terminal, width=100, color_system=None), err)


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_logs_go_to_stderr_and_the_logger_is_restored(terminal):
    logger = logging.getLogger("chunkpilot")
    before = (logger.level, logger.propagate, list(logger.handlers))
    out, err, text = _consoles(terminal)
    with Output(stdout=out, stderr=err) as o:
        logging.getLogger("chunkpilot.commands.tune").info("Dashboard: http://127.0.0.1:1/status")
        logging.getLogger("chunkpilot.x").debug("hidden at normal verbosity")
        logging.getLogger("chunkpilot.x").warning("a warning always shows")
        o.on_trial(trials()[0])
        assert o.live == terminal  # a progress display on a terminal only
    # on a terminal the dashboard link and each trial show; a pipe (a script, a signal
    # test) sees only warnings and errors at normal verbosity
    assert ("Dashboard: http://127.0.0.1:1/status" in text.getvalue()) == terminal
    assert ("trial hand-built: 8.00 s, input_overproduction" in text.getvalue()) == terminal
    assert "hidden" not in text.getvalue() and "a warning always shows" in text.getvalue()
    assert out.file.getvalue() == ""  # nothing but results ever goes to stdout
    assert (logger.level, logger.propagate, list(logger.handlers)) == before


def test_verbose_shows_everything_on_a_pipe():
    out, err, text = _consoles(False)
    with Output(verbosity=1, stdout=out, stderr=err) as o:
        logging.getLogger("chunkpilot.commands.tune").info("Dashboard: http://127.0.0.1:1/status")
        o.on_trial(trials()[0])
    assert "Dashboard" in text.getvalue() and "trial hand-built" in text.getvalue()


def test_quiet_and_json():
    out, err, text = _consoles(True)
    with Output(verbosity=-1, stdout=out, stderr=err) as o:
        logging.getLogger("chunkpilot.commands.tune").info("Dashboard: x")
        o.on_trial(trials()[0])
        assert not o.live
    assert text.getvalue() == ""
    out, err, text = _consoles(True)
    assert not Output(as_json=True, stdout=out, stderr=err).live
    assert Output(stdout=out, stderr=err).live  # a terminal, no --json: progress shown
