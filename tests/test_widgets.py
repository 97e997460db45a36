"""The slider-figure helper, driven without a browser."""

import ipywidgets as w
import matplotlib.pyplot as plt
import pytest

from scaling_lab.book.widgets import Slider, live_figure, slider_figure


class Recorder:
    """A draw function that records its calls and the figures it made."""

    def __init__(self):
        self.calls, self.figures = [], []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        fig, ax = plt.subplots(figsize=(2, 1.5))
        ax.plot([0, 1], [0, sum(kwargs.values())])
        self.figures.append(fig)
        return fig


def images_of(stack: w.Stack) -> list[w.Image]:
    out = []
    for child in stack.children:
        out.extend(images_of(child) if isinstance(child, w.Stack) else [child])
    return out


def test_one_slider_precomputes_every_value_and_links_the_stack():
    draw = Recorder()
    box = slider_figure(draw, [Slider("grid", [2.0, 4.0, 8.0], default=4.0)])
    slider, stack = box.children
    assert [c["grid"] for c in draw.calls] == [2.0, 4.0, 8.0]
    assert slider.index == stack.selected_index == 1
    assert len({bytes(img.value) for img in stack.children}) == 3
    assert all(bytes(img.value).startswith(b"\x89PNG") for img in stack.children)
    (link,) = box.links
    assert link.source == (slider, "index") and link.target == (stack, "selected_index")
    assert draw.figures[1]._suptitle.get_text() == "grid = 4"


def test_two_sliders_nest_stacks_and_link_every_inner_stack():
    draw = Recorder()
    sliders = [
        Slider("ratio", [1.0, 3.0], label="α/β"),
        Slider("grid", [2.0, 4.0, 8.0], default=8.0, fmt=lambda v: f"±{v:g}×"),
    ]
    box = slider_figure(draw, sliders)
    first, second, outer = box.children
    assert len(draw.calls) == 6 and len(images_of(outer)) == 6
    assert outer.selected_index == 0
    assert all(inner.selected_index == 2 for inner in outer.children)
    targets = {(id(link.source[0]), id(link.target[0])) for link in box.links}
    assert (id(first), id(outer)) in targets
    assert all((id(second), id(inner)) in targets for inner in outer.children)
    assert draw.figures[-1]._suptitle.get_text() == "α/β = 3,   grid = ±8×"


def test_live_widget_redraws_when_a_slider_moves():
    draw = Recorder()
    box = live_figure(
        draw, [Slider("grid", [2.0, 4.0, 8.0]), w.FloatSlider(description="k", value=1.0)]
    )
    grid, k, image = box.children
    first_png = bytes(image.value)
    assert draw.calls == [{"grid": 2.0, "k": 1.0}]
    grid.value = 8.0
    assert draw.calls[-1] == {"grid": 8.0, "k": 1.0}
    k.value = 2.5  # a continuous value no precomputed widget has
    assert draw.calls[-1] == {"grid": 8.0, "k": 2.5}
    assert bytes(image.value) != first_png and bytes(image.value).startswith(b"\x89PNG")
    assert draw.figures[-1]._suptitle.get_text() == "grid = 8,   k = 2.5"


def test_invalid_slider_specs():
    with pytest.raises(ValueError, match="at least one value"):
        Slider("grid", [])
    with pytest.raises(ValueError, match="default 5 is not a value"):
        Slider("grid", [1, 2], default=5)
    with pytest.raises(ValueError, match="one or two sliders"):
        slider_figure(Recorder(), [Slider("a", [1]), Slider("b", [1]), Slider("c", [1])])
