"""Watch any computation on a client and diagnose its chunking: ``with watch(client) as w:``."""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Sequence
from types import TracebackType
from typing import Literal, overload

from distributed import Client

from chunkpilot.cluster.connect import check_client
from chunkpilot.cluster.dashboard import page_url
from chunkpilot.cluster.observe import Collector
from chunkpilot.cluster.plugin import ClusterWatch
from chunkpilot.commands.outputs import check_output_path
from chunkpilot.core.diagnose import diagnose
from chunkpilot.core.observations import Observation, Trial
from chunkpilot.core.plan import Plan
from chunkpilot.core.verdicts import Verdict
from chunkpilot.errors import InvalidArgumentTypeError, UsageError
from chunkpilot.report.html import watch_html, write_report

__all__ = ["Watch", "watch"]

logger = logging.getLogger(__name__)


class Watch:
    """Context manager recording one block of work; made by :func:`watch`.

    Exceptions raised in the block propagate unchanged; the collectors stop either way and
    the exception is recorded in :attr:`observation`.
    """

    def __init__(self, client: Client, *, timeout_s: float | None = None,
                 interval_s: float = 0.1) -> None:
        self._collector = Collector(client, interval_s=interval_s, timeout_s=timeout_s)
        self.observation: Observation | None = None
        """What the block did; set when the block exits."""

    def __enter__(self) -> Watch:
        self._collector.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.observation = self._collector.stop(exc)
        except Exception:
            if exc is None:
                raise
            logger.exception("chunkpilot could not record the failed block")  # keep `exc`

    def _observed(self) -> Observation:
        if self.observation is None:
            raise UsageError("Expected the watched block to have finished. It is still open (use "
                             "the results after the `with` block).")
        return self.observation

    @property
    def diagnosis(self) -> tuple[Verdict, ...]:
        """Verdicts on the observed block (see :func:`chunkpilot.core.diagnose.diagnose`)."""
        return diagnose(self._observed())

    def trial(self, label: str = "watched", chunks: Sequence[Sequence[int]] = ()) -> Trial:
        """The observation and its diagnosis as a :class:`Trial` for reports."""
        return Trial(label, tuple(tuple(c) for c in chunks), self._observed(), self.diagnosis)

    def report(self, path: str | pathlib.Path, *, title: str = "chunkpilot: watched run",
               plan: Plan | None = None, notes: Sequence[str] = (),
               overwrite: bool = False) -> pathlib.Path:
        """Write an offline HTML report of the observed block to ``path`` (refused, as every
        output, when it is a directory or a file that is not a previous chunkpilot report
        unless ``overwrite``).

        ``plan`` is a :class:`~chunkpilot.core.plan.Plan` (what ``chunkpilot.advise``
        returns) whose explanation heads the report, e.g. the plan the watched work used.
        """
        if plan is not None and not isinstance(plan, Plan):
            raise InvalidArgumentTypeError(
                f"Expected plan as a Plan (from chunkpilot.advise). Got {type(plan).__name__} "
                "instead.")
        self._observed()
        path = check_output_path(path, overwrite=overwrite)
        return write_report(path, title=title, plan=plan, trials=[self.trial()], notes=notes)

    def _repr_html_(self) -> str:
        """The verdicts and the dashboard's two pictures, inline in a notebook."""
        if self.observation is None:
            return "<p>chunkpilot watch: the watched block is still running.</p>"
        return watch_html(self.trial())


@overload
def watch(client: Client, *, always: Literal[False] = False, timeout_s: float | None = None,
          interval_s: float = 0.1) -> Watch: ...
@overload
def watch(client: Client, *, always: Literal[True], timeout_s: float | None = None,
          interval_s: float = 0.1) -> str | None: ...
def watch(client: Client, *, always: bool = False, timeout_s: float | None = None,
          interval_s: float = 0.1) -> Watch | str | None:
    """Record everything ``client`` computes inside a ``with`` block, or (``always=True``)
    every computation on the cluster from now on.

    Parameters
    ----------
    client
        Client the block computes through.
    always
        Add :class:`chunkpilot.ClusterWatch` to the scheduler (once; chunkpilot must be
        installed there) and return the URL of its ``/chunkpilot`` page (``None`` when the
        scheduler has no dashboard). It diagnoses every computation, anyone's, until the
        scheduler stops.
    timeout_s
        Cancel futures this client created after this many seconds (the block then raises
        ``CancelledError``); ``None`` for no limit.
    interval_s
        Seconds between worker memory samples.

    Returns
    -------
    Watch
        After the block: ``w.observation``, ``w.diagnosis`` and ``w.report(path)``.

    Examples
    --------
    >>> with watch(client) as w:  # doctest: +SKIP
    ...     total = x.sum().compute()
    >>> [v.kind for v in w.diagnosis]  # doctest: +SKIP
    ['too_small']
    >>> chunkpilot.watch(client, always=True)  # doctest: +SKIP
    'http://127.0.0.1:8787/chunkpilot'
    """
    check_client(client)  # a clear error for None, a closed client, ... (issue 17)
    if always:  # --- cluster watch (issue 16): the scheduler plugin, not a with-block ---
        client.register_plugin(ClusterWatch())
        return page_url(client)
    return Watch(client, timeout_s=timeout_s, interval_s=interval_s)
