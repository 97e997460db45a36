"""Sliders over figures that work without a kernel, and live in one.

``slider_figure(draw, sliders)`` draws every combination of slider values once, stores
each figure as a PNG in an ``ipywidgets.Image``, stacks them in ``ipywidgets.Stack``
containers and links each slider's ``index`` to the stacks' ``selected_index`` with
``jslink``. The link runs in the browser, so the rendered static book needs no kernel:
moving a slider only switches which precomputed image is visible. With two sliders an
outer stack, selected by the first, holds one inner stack per value of the first, each
selected by the second.

``live_figure(draw, sliders)`` is the kernel-side counterpart: the same sliders (or
continuous ones) redraw the figure on every change.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as w
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..drawing import check_legible

DrawFunction = Callable[..., Figure]


@dataclass(frozen=True)
class Slider:
    """One knob: the keyword ``name`` passed to the draw function and its values."""

    name: str
    values: Sequence[Any]
    default: Any = None
    label: str | None = None
    fmt: Callable[[Any], str] = field(default=lambda v: f"{v:g}")

    def __post_init__(self) -> None:
        if len(self.values) == 0:
            raise ValueError(f"slider {self.name!r} needs at least one value")
        if self.default is not None and self.default not in list(self.values):
            raise ValueError(f"slider {self.name!r}: default {self.default!r} is not a value")

    @property
    def default_index(self) -> int:
        return 0 if self.default is None else list(self.values).index(self.default)

    @property
    def title(self) -> str:
        return self.label or self.name

    def widget(self, by_value: bool = False) -> w.SelectionSlider:
        """A slider over the values; its ``value`` is the position, or the value itself."""
        options = [(self.fmt(v), v if by_value else i) for i, v in enumerate(self.values)]
        return w.SelectionSlider(
            options=options,
            index=self.default_index,
            description=self.title,
            continuous_update=True,
            readout=True,
            # One label width for every slider, so two sliders of a figure line up; the
            # slider fills the column up to 36em and shrinks with it, so its value
            # readout stays on screen at phone width.
            style={"description_width": "10em"},
            layout=w.Layout(width="100%", max_width="36em"),
        )


#: Slider frames are PNGs at this resolution: a column-wide figure (7.2 in) is 720 px,
#: shown at its natural size on a desktop, and its 9 pt text is 12.5 px in the image.
#: They are not served at 2x: every frame is stored in the page, and 2x would about
#: double the weight of a slider page (the budget is 4 MB).
SLIDER_DPI = 100


def figure_png(fig: Figure, dpi: int = SLIDER_DPI) -> bytes:
    """The figure as a 256-colour PNG, checked legible (``drawing.check_legible``); closed.

    Every frame of a slider is stored in the page, so frame size is page weight. A line
    figure has few distinct colours: the 256-colour palette looks the same and makes
    the PNG about 60% smaller than matplotlib's RGBA one.
    """
    try:
        check_legible(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return palette_png(buffer.getvalue())


def palette_png(png: bytes) -> bytes:
    """``png`` re-encoded with an adaptive 256-colour palette (median cut)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    if image.mode == "P":
        return png
    quantized = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    quantized.save(out, format="png", optimize=True)
    return out.getvalue()


def _render(draw: DrawFunction, sliders: Sequence[Slider], values: Sequence[Any], dpi: int):
    kwargs = {s.name: v for s, v in zip(sliders, values, strict=True)}
    fig = draw(**kwargs)
    caption = ",   ".join(f"{s.title} = {s.fmt(v)}" for s, v in zip(sliders, values, strict=True))
    fig.suptitle(caption, fontsize=10)
    return figure_png(fig, dpi)


def _image(png: bytes) -> w.Image:
    return w.Image(value=png, format="png", layout=w.Layout(max_width="100%", height="auto"))


def slider_figure(draw: DrawFunction, sliders: Sequence[Slider], dpi: int = SLIDER_DPI) -> w.VBox:
    """A kernel-free widget: every combination precomputed, sliders ``jslink``-ed to stacks."""
    if not 1 <= len(sliders) <= 2:
        raise ValueError(f"slider_figure takes one or two sliders, got {len(sliders)}")
    controls = [s.widget() for s in sliders]
    first = sliders[0]
    links = []
    if len(sliders) == 1:
        images = [_image(_render(draw, sliders, [v], dpi)) for v in first.values]
        stack = w.Stack(images, selected_index=first.default_index)
    else:
        second = sliders[1]
        inner = []
        for v1 in first.values:
            images = [_image(_render(draw, sliders, [v1, v2], dpi)) for v2 in second.values]
            child = w.Stack(images, selected_index=second.default_index)
            links.append(w.jslink((controls[1], "index"), (child, "selected_index")))
            inner.append(child)
        stack = w.Stack(inner, selected_index=first.default_index)
    links.insert(0, w.jslink((controls[0], "index"), (stack, "selected_index")))
    box = w.VBox([*controls, stack])
    box.add_class("scaling-lab-slider-figure")
    box.links = links  # the browser-side links, kept for inspection
    return box


def live_figure(
    draw: DrawFunction,
    sliders: Sequence[Slider | w.ValueWidget],
    dpi: int = SLIDER_DPI,
) -> w.VBox:
    """A kernel widget that redraws on every change.

    Each entry is a :class:`Slider` (its values, as in the static widget) or any ipywidgets
    value widget whose ``description`` is the keyword to pass, for example
    ``FloatLogSlider(description="grid", min=0.3, max=2)`` for continuous values.
    """
    controls, specs = [], []
    for s in sliders:
        if isinstance(s, Slider):
            control = s.widget(by_value=True)
            specs.append(s)
        else:
            control = s
            specs.append(Slider(s.description, [s.value]))
        controls.append(control)
    image = _image(b"")

    def redraw(_change=None) -> None:
        image.value = _render(draw, specs, [c.value for c in controls], dpi)

    for control in controls:
        control.observe(redraw, names="value")
    redraw()
    return w.VBox([*controls, image])
