"""Where the CLI's output goes: results on stdout; progress and logs on stderr.

On a terminal a one-line rich progress display follows the work (probing the scheduler,
each profiling sample, each trial); it is off when stderr is not a terminal, with ``--json``
and with ``-q``. chunkpilot's own log records (the dashboard link of the cluster tune starts,
warnings) are printed on stderr too; the logger is configured only while the command runs
and restored afterwards.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from chunkpilot.core.model import Sample
from chunkpilot.core.observations import Trial
from chunkpilot.report.console import new_console
from chunkpilot.units import format_bytes, format_seconds, plural

__all__ = ["Output"]

#: The logger chunkpilot's modules log under.
LOGGER = "chunkpilot"


def sample_line(s: Sample) -> str:
    """One profiling sample, for humans."""
    what = (f"{format_seconds(s.seconds)}, peak {format_bytes(s.peak_bytes)}" if s.ok
            else f"FAILED ({s.failure})")
    return f"sample {s.shape}: {what}"


def trial_line(t: Trial) -> str:
    """One trial, for humans."""
    kinds = ", ".join(v.kind for v in t.verdicts) or "-"
    return f"trial {t.label}: {format_seconds(t.observation.wall_seconds)}, {kinds}"


class Output:
    """Consoles, log handler and progress display of one CLI command (a context manager).

    ``verbosity``: -1 quiet (errors only), 0 normal (phases, trials, the dashboard link: on a
    terminal only, so a script or a pipe sees nothing but warnings and errors on stderr),
    1+ verbose (also every sample and debug logs, terminal or not).
    """

    def __init__(self, *, verbosity: int = 0, as_json: bool = False,
                 stdout: Console | None = None, stderr: Console | None = None) -> None:
        self.verbosity = verbosity
        self.out = stdout or new_console(highlight=False)
        self.err = stderr or new_console(stderr=True, highlight=False)
        self.live = self.err.is_terminal and not as_json and verbosity >= 0
        self._progress: Progress | None = None
        self._task: Any = None
        self._samples = 0
        self._trials = 0
        self._saved: tuple[int, bool] | None = None
        self._handler: logging.Handler | None = None
        self.max_trials: int | None = None

    def __enter__(self) -> Output:
        logger = logging.getLogger(LOGGER)
        self._saved = (logger.level, logger.propagate)
        self._handler = RichHandler(console=self.err, show_time=False, show_path=False,
                                    markup=False, rich_tracebacks=False)
        logger.addHandler(self._handler)
        logger.setLevel(logging.DEBUG if self.verbosity > 0 else
                        logging.INFO if self.verbosity == 0 and self.live else
                        logging.WARNING if self.verbosity == 0 else logging.ERROR)
        logger.propagate = False
        if self.live:
            self._progress = Progress(SpinnerColumn(),
                                      TextColumn("{task.description}", markup=False),
                                      TimeElapsedColumn(), console=self.err, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("starting", total=None)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        logger = logging.getLogger(LOGGER)
        if self._handler is not None:
            logger.removeHandler(self._handler)
        if self._saved is not None:
            logger.setLevel(self._saved[0])
            logger.propagate = self._saved[1]

    def phase(self, text: str, *, log: bool = True) -> None:
        """What the command is doing now: the progress line on a terminal, else (with -v) a
        log line."""
        if self._progress is not None:
            self._progress.update(self._task, description=text)
        elif self.verbosity > 0 and log:
            self.err.print(Text(text, style="dim"))

    def on_sample(self, s: Sample) -> None:
        """A profiling sample was measured (``on_sample=`` of advise and tune)."""
        self._samples += 1
        self.phase(f"profiling: {plural(self._samples, 'sample')} measured; last {sample_line(s)}",
                   log=False)
        if self.verbosity > 0:
            self.err.print(Text(f"  {sample_line(s)}"))

    def on_trial(self, t: Trial) -> None:
        """A tune trial finished (``on_trial=`` of tune)."""
        self._trials += 1
        of = f" of at most {self.max_trials}" if self.max_trials else ""
        self.phase(f"trials: {self._trials}{of} done, running the next", log=False)
        if self.verbosity > 0 or (self.verbosity == 0 and self.live):
            self.err.print(Text(f"  {trial_line(t)}"))
