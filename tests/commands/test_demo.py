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
