"""``chunkpilot demo`` end to end (--quick): a real store, advise, trials on a real
LocalCluster, the report; and what it says about its temporary sample store."""

from __future__ import annotations

import os
import re

import pytest
from rich.console import Console

from chunkpilot.commands.demo import run_demo
from chunkpilot.report.progress import Output

pytestmark = pytest.mark.cluster


def test_a_quick_demo_in_a_temporary_directory_says_its_store_is_gone(tmp_path):
    """The 'How to apply' line names the sample store; without --dir that store lives in a
    temporary directory removed when the demo ends, and the demo says so."""
    out = Console(width=200, record=True, color_system=None, highlight=False)
    err = Console(width=200, record=True, color_system=None, highlight=False, stderr=True)
    report = tmp_path / "report.html"
    with Output(stdout=out, stderr=err) as output:
        run_demo(None, quick=True, report=str(report), output=output)
    text = out.export_text()
    assert "Tuned chunks:" in text and report.exists()
    store = re.search(r"The sample store (\S+) was temporary and is removed now", text)
    assert store is not None, text[-2000:]
    assert store.group(1).endswith("sample.zarr") and not os.path.exists(store.group(1))
    assert "--dir DIR" in text


def test_the_default_report_goes_in_dir_even_one_still_to_be_made(tmp_path):
    """Hunt 18: ``demo --dir DIR`` wrote its report in the working directory though its help
    says DIR; a DIR the demo has yet to make must not refuse that default report."""
    from chunkpilot.commands.demo import checked_report
    from chunkpilot.errors import OutputPathError

    new = tmp_path / "new" / "demo"
    assert checked_report(str(new), None) == str(new / "chunkpilot-report.html")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "chunkpilot-report.html").write_text("a user's file")
    with pytest.raises(OutputPathError, match="previous chunkpilot report"):
        checked_report(str(tmp_path / "old"), None)
    assert checked_report(None, "r.html").endswith("r.html")
