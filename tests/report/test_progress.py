"""CLI output streams: results on stdout, progress and logs on stderr, logging restored."""

from __future__ import annotations

import io
import logging

from rich.console import Console

from chunkpilot.report.progress import Output

from .samples import trials


def _consoles(terminal: bool) -> tuple[Console, Console, io.StringIO]:
    err = io.StringIO()
    return (Console(file=io.StringIO()),
            Console(file=err, force_terminal=terminal, width=100, color_system=None), err)


def test_logs_go_to_stderr_and_the_logger_is_restored():
    logger = logging.getLogger("chunkpilot")
    before = (logger.level, logger.propagate, list(logger.handlers))
    out, err, text = _consoles(False)
    with Output(stdout=out, stderr=err) as o:
        logging.getLogger("chunkpilot.commands.tune").info("Dashboard: http://127.0.0.1:1/status")
        logging.getLogger("chunkpilot.x").debug("hidden at normal verbosity")
        o.on_trial(trials()[0])
        assert not o.live  # stderr is not a terminal: no progress display
    assert "Dashboard: http://127.0.0.1:1/status" in text.getvalue()
    assert "hidden" not in text.getvalue()
    assert "trial hand-built: 8.00 s, input_overproduction" in text.getvalue()
    assert out.file.getvalue() == ""  # nothing but results ever goes to stdout
    assert (logger.level, logger.propagate, list(logger.handlers)) == before


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
