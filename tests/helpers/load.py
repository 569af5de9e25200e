"""How busy the machine was with *other* processes while a test measured (in cores).

The 1-minute load average lags by a minute and counts this test's own sandboxes; this
counts the CPU time the whole machine spent minus what this process and its children spent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def _own_seconds() -> float:
    me = psutil.Process()
    t = me.cpu_times()
    own = t.user + t.system + t.children_user + t.children_system  # reaped children included
    for child in me.children(recursive=True):
        try:
            c = child.cpu_times()
            own += c.user + c.system
        except psutil.Error:
            pass
    return own


@dataclass
class ForeignLoad:
    """Start with :meth:`start`; :meth:`cores` is other processes' average busy cores since."""

    wall: float = 0.0
    busy: float = 0.0
    own: float = 0.0

    def start(self) -> ForeignLoad:
        self.wall, self.busy, self.own = time.monotonic(), _busy_seconds(), _own_seconds()
        return self

    def cores(self) -> float:
        wall = time.monotonic() - self.wall
        foreign = (_busy_seconds() - self.busy) - (_own_seconds() - self.own)
        return max(foreign, 0.0) / wall if wall > 0 else 0.0
