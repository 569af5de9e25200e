"""The suite's timeline tool (tests/helpers/timeline.py) adds up what it recorded."""

from __future__ import annotations

import json

from tests.helpers.timeline import summary


def test_the_summary_splits_time_run_alone_from_time_beside_others(tmp_path):
    def write(worker, *records):
        (tmp_path / f"{worker}.jsonl").write_text(
            "".join(json.dumps(dict(zip(("id", "t0", "t1", "gated"), r, strict=True))) + "\n"
                    for r in records))

    write("gw0", ("tests/a.py::x", 100.0, 110.0, False), ("tests/t.py::y", 110.0, 130.0, True))
    write("gw1", ("tests/b.py::z", 100.0, 105.0, False), ("tests/b.py::w", 130.0, 140.0, False))
    lines = summary(tmp_path)
    assert lines[0] == ("span 40 s, 4 tests; run alone 20 s; beside others 25 s of test time")
    assert lines[1:3] == ["  gw0: busy 30 s, idle 10 s", "  gw1: busy 15 s, idle 25 s"]
    assert lines[4] == "    20.0 s A tests/t.py" and lines[5] == "    15.0 s   tests/b.py"
    assert summary(tmp_path / "none") == [f"no records in {tmp_path / 'none'}"]
