"""Observations and trials saved as JSON files and read back (for reports and replays)."""

from __future__ import annotations

import json
import pathlib

from chunkpilot.core.observations import Observation, Trial

__all__ = ["load_observation", "load_trials", "save_observation", "save_trials"]


def save_observation(obs: Observation, path: str | pathlib.Path) -> pathlib.Path:
    """Write ``obs`` as JSON to ``path`` and return the path."""
    path = pathlib.Path(path)
    path.write_text(json.dumps(obs.to_dict(), indent=1))
    return path


def load_observation(path: str | pathlib.Path) -> Observation:
    """Read an :class:`Observation` written by :func:`save_observation`."""
    return Observation.from_dict(json.loads(pathlib.Path(path).read_text()))


def save_trials(trials: tuple[Trial, ...] | list[Trial], path: str | pathlib.Path) -> pathlib.Path:
    """Write ``trials`` as a JSON list to ``path`` and return the path."""
    path = pathlib.Path(path)
    path.write_text(json.dumps([t.to_dict() for t in trials], indent=1))
    return path


def load_trials(path: str | pathlib.Path) -> tuple[Trial, ...]:
    """Read trials written by :func:`save_trials`."""
    return tuple(Trial.from_dict(d) for d in json.loads(pathlib.Path(path).read_text()))
