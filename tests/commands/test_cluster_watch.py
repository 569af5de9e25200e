"""``chunkpilot watch ADDRESS --follow``: rows as computations arrive, one JSON line each."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from chunkpilot.cli import cli
from chunkpilot.commands import cluster_watch
from chunkpilot.core.computations import ComputationSummary, GroupTime
from chunkpilot.core.verdicts import Verdict
from chunkpilot.errors import InvalidArgumentError

SUMMARIES = [ComputationSummary(f"id{i}", 1.7e9 + i, 2.0, 100, 2, (GroupTime("sum", 100, 1.0),),
                                verdicts=(Verdict("too_small", "tiny", {}, "Bigger chunks."),))
             for i in range(3)]


class _Done(Exception):
    """The fake scheduler has no more answers."""


def _payloads():
    """What three polls return (the scheduler keeps the last two computations), then _Done."""
    for d in (SUMMARIES[:1], SUMMARIES[:2], SUMMARIES[1:3]):
        yield {"computations": [s.to_dict() for s in reversed(d)], "enabled": True}
    raise _Done


def test_follow_yields_new_computations_once(monkeypatch):
    payloads = _payloads()
    monkeypatch.setattr(cluster_watch, "fetch", lambda address: next(payloads))
    sleeps = []

    def sleep(s):
        sleeps.append(s)
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    got = []
    with pytest.raises(KeyboardInterrupt):
        for s in cluster_watch.follow("tcp://127.0.0.1:8786", interval_s=0.5, sleep=sleep):
            got.append(s.id)
    assert got == ["id0", "id1", "id2"] and sleeps == [0.5] * 3


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_cli_follow(monkeypatch, as_json):
    payloads = _payloads()
    monkeypatch.setattr(cluster_watch, "fetch", lambda address: next(payloads))
    slept: list[float] = []  # follow sleeps through time.sleep as it is when it polls
    monkeypatch.setattr(cluster_watch.time, "sleep", slept.append)
    args = ["watch", "tcp://127.0.0.1:8786", "--follow"] + (["--json"] if as_json else [])
    result = CliRunner().invoke(cli, args, env={"COLUMNS": "200"})
    assert isinstance(result.exception, _Done), result.exception
    assert slept and set(slept) == {2.0}, slept
    if as_json:
        assert [json.loads(line)["id"] for line in result.output.splitlines()] == \
            ["id0", "id1", "id2"]
    else:
        assert [s.id in result.output for s in SUMMARIES] == [True] * 3
        assert result.output.count("dominant task group") == 1  # one header, then rows


@pytest.mark.parametrize("interval", [0, -1, float("nan"), float("inf"), 1e300])
def test_follow_rejects_a_bad_interval(interval):
    # hunt: inf and 1e300 got past "> 0" and time.sleep raised OverflowError (exit 1)
    with pytest.raises(InvalidArgumentError, match="interval > 0"):
        next(cluster_watch.follow("tcp://127.0.0.1:8786", interval_s=interval))
