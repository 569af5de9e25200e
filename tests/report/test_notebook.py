"""Notebook display: every result's ``_repr_html_`` is well-formed HTML with the explanation."""

from __future__ import annotations

import html
from html.parser import HTMLParser

import dask.array as da

import chunkpilot
from chunkpilot.core.agree import agree
from chunkpilot.core.display import repr_html
from chunkpilot.report import notebook  # noqa: F401  (registers the core's renderers)

from .samples import plan, tune_result

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class _Strict(HTMLParser):
    """Parse with html.parser, require every element closed in order; collect the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(markup: str) -> _Strict:
    p = _Strict()
    p.feed(markup)
    p.close()
    assert not p.errors, p.errors[:5]
    assert not p.stack, f"unclosed: {p.stack}"
    return p


def _text(markup: str) -> str:
    return " ".join(" ".join(parse(markup).text).split())


def test_plan_repr_html_has_the_explanation_and_how_to_apply():
    p = plan()
    markup = p._repr_html_()
    text = _text(markup)
    for line in p.explain().splitlines():
        assert " ".join(line.split()) in text, line
    assert f"da.from_zarr('<my>.zarr', chunks={p.chunk_shape})" in text
    assert "<my>" not in markup.replace("&lt;my&gt;", "")  # escaped, not markup
    assert "<html" not in markup and "<script" not in markup  # a fragment, no figures needed


def test_dataset_plan_repr_html():
    plans = {"a": plan(dims=("y", "x")), "b": plan(dims=("y", "x"))}
    dp = agree(plans)
    text = _text(dp._repr_html_())
    assert dp.explain().splitlines()[0] in text and "ds = ds.chunk(" in text


def test_tune_result_repr_html_has_explanation_and_figures_inline():
    r = tune_result()
    markup = r._repr_html_()
    p = parse(markup)
    text = " ".join(" ".join(p.text).split())
    assert r.explain().splitlines()[0] in text
    assert "Task stream: hand-built" in markup and "Bokeh" in markup  # figures, inline JS
    assert p.tags.count("script") >= 2 and "<html" not in markup
    assert html.escape("This run failed after") in markup  # what the killed trial recorded


def test_check_report_repr_html():
    report = chunkpilot.check(da.zeros((20000, 20000), chunks=(10000, 10000)), workers=2,
                              threads_per_worker=2, memory_limit="1GiB")
    text = _text(report._repr_html_())
    assert "chunkpilot check: 1 problem" in text
    assert report.lines()[0] in text
    assert " ".join(report.problems[0].message.split()) in text


def test_unregistered_class_falls_back_to_plain_repr():
    assert repr_html(object()) is None


def test_plans_and_check_reports_render_without_bokeh():
    """advise and check (and their one-line errors on the command line) do not pay bokeh's
    import (~0.8 s): only tune and watch results carry figures."""
    import subprocess
    import sys

    code = ("import sys, chunkpilot.commands.advise, chunkpilot.commands.check\n"
            "from chunkpilot.core.model import CostModel, LinearFit\n"
            "from chunkpilot.core.plan import make_plan\n"
            "from chunkpilot.types import ArraySpec, Resources, WorkSpec\n"
            "model = CostModel(LinearFit(1e-3, 2e-9, 1.0), LinearFit(4e6, 3.0, 1.0), 1e-3)\n"
            "p = make_plan(ArraySpec((1000, 1000), 'float64'), WorkSpec(2),"
            " Resources(2, 1, 2**30), model)\n"
            "assert 'How to apply' in p._repr_html_(), p._repr_html_()\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'bokeh'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
