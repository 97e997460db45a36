"""The legibility check every book figure passes through (``drawing.check_legible``)."""

from __future__ import annotations

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt
import pytest

from scaling_lab import drawing
from scaling_lab.book.widgets import figure_png


@pytest.fixture(autouse=True)
def _style():
    with matplotlib.rc_context():
        drawing.use_style()
        yield
    plt.close("all")


def _figure(width: float = drawing.COLUMN_WIDTH_IN, legend_size: float | None = None):
    fig, ax = plt.subplots(figsize=(width, 3.0))
    ax.plot([1, 2], [3, 4], label="a line")
    ax.set_xlabel("compute $C$ ($10^{19}$ FLOPs)")
    ax.legend(fontsize=legend_size)
    return fig


def test_a_column_wide_figure_in_the_house_style_is_legible():
    assert drawing.illegible_parts(_figure()) == []


def test_a_figure_wider_than_the_column_is_refused():
    with pytest.raises(drawing.IllegibleFigure, match=r"8\.5 in wide \(column 7\.2 in\)"):
        drawing.check_legible(_figure(width=8.5))


def test_text_below_the_minimum_is_refused_and_named():
    problems = drawing.illegible_parts(_figure(legend_size=7))
    assert problems == ["text 'a line' at 7 pt (< 9)"]


def test_every_style_size_is_at_least_the_minimum():
    fig = _figure()
    sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]
    assert sizes and min(sizes) >= drawing.MIN_FONT_PT


def test_slider_frames_are_checked_and_closed_even_when_refused():
    fig = _figure(legend_size=8)
    with pytest.raises(drawing.IllegibleFigure):
        figure_png(fig)
    assert not plt.fignum_exists(fig.number)
    png = figure_png(_figure())
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
