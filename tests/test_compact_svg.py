"""The site's SVG compaction keeps every figure's drawing and text (book/_ext/compact_svg.py)."""

from __future__ import annotations

import io
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))
from compact_svg import compact_svg

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"


def matplotlib_svg() -> str:
    """A figure with what the book's figures have: markers, lines, log ticks, legend."""
    rng = np.random.default_rng(3)
    with plt.rc_context({"svg.fonttype": "none"}):
        fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 3))
        x = np.logspace(18, 22, 40)
        left.loglog(x, 1e-3 * x**0.5 * (1 + 0.1 * rng.standard_normal(40)), "o", label="runs")
        left.loglog(x, 1e-3 * x**0.5, "-", label="fit 1.000 ± 0.025")
        left.legend(title="scale 10.50")
        right.scatter(rng.normal(size=300), rng.normal(size=300), s=8, alpha=0.5)
        right.scatter(rng.normal(size=200), rng.normal(size=200), s=8, marker="s")
        right.set_title(r"$\alpha = 0.3392$, 2.75e+24 FLOPs")
        right.text(0.1, 0.2, "at 0.123456", rotation=30)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg")
        plt.close(fig)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def original() -> str:
    return matplotlib_svg()


@pytest.fixture(scope="module")
def compact(original) -> str:
    return compact_svg(original)


def texts(svg: str) -> list[list[str]]:
    """Each label's pieces of text; the blank runs between a mathtext label's positioned
    ``<tspan>`` pieces (matplotlib's indentation) draw nothing and are left out."""
    return [
        [piece.strip() for piece in t.itertext() if piece.strip()]
        for t in ET.fromstring(svg).iter(f"{SVG}text")
    ]


def markers(svg: str) -> np.ndarray:
    uses = ET.fromstring(svg).iter(f"{SVG}use")
    return np.array([[float(u.get("x", 0)), float(u.get("y", 0))] for u in uses])


def test_is_much_smaller_and_still_well_formed_svg(original, compact):
    assert ET.fromstring(compact).tag == f"{SVG}svg"
    assert len(compact) < 0.6 * len(original), (len(compact), len(original))
    assert "<metadata>" not in compact and not compact.startswith("<?xml")


def test_every_label_keeps_its_exact_text(original, compact):
    # Numbers in text are content, not coordinates: none is rounded.
    assert texts(compact) == texts(original)
    assert ["at 0.123456"] in texts(compact)
    assert ["fit 1.000 ± 0.025"] in texts(compact)


def test_markers_move_by_at_most_half_a_hundredth_of_a_point(original, compact):
    before, after = markers(original), markers(compact)
    assert before.shape == after.shape and len(before) > 500
    assert np.abs(before - after).max() <= 0.005 + 1e-9


def test_markers_keep_their_style_through_their_group(original, compact):
    def styles(svg: str) -> list[str]:
        root = ET.fromstring(svg)
        parent = {child: node for node in root.iter() for child in node}
        return [u.get("style") or parent[u].get("style") for u in root.iter(f"{SVG}use")]

    assert styles(compact) == styles(original)


def test_every_reference_names_an_element_that_exists(compact):
    root = ET.fromstring(compact)
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    refs = [el.get(XLINK)[1:] for el in root.iter() if el.get(XLINK)]
    refs += re.findall(r"url\(#([^)]+)\)", compact)
    assert refs and set(refs) <= ids


def test_is_idempotent(compact):
    assert compact_svg(compact) == compact


def test_refuses_an_svg_with_an_unclosed_group():
    with pytest.raises(ValueError, match="unclosed"):
        compact_svg('<svg xmlns="http://www.w3.org/2000/svg"><g><path d="M 0 0"/></svg>')
