"""The built site read on a phone (390×844) and on a desktop (1366×900), below the
GitHub Pages path prefix, with every outside request aborted (conftest.py).

Navigation: both sidebars open on a phone and a chapter link in them is followed; on a
desktop the ☰ button collapses the sidebar. Tables: no caption is cut off. Sliders: every
value readout is on screen. Figures: no text smaller than 9 CSS px at phone width, read
from each SVG's own font sizes (or, for a slider frame, from the PNG's resolution) and
the width the figure is shown at. Page weight: bytes transferred (gzip, as GitHub Pages serves
the site) per page and for the whole site, and text paints while the widget bundle is
still on its way.
"""

from __future__ import annotations

import ast
import html
import re
import xml.etree.ElementTree as ET
from urllib.parse import unquote

import pytest

from scaling_lab.book.widgets import SLIDER_DPI
from scaling_lab.drawing import MIN_FONT_PT, PHONE_MIN_WIDTH_PX

from .conftest import PREFIX, SITE, LoadedPage, serve

pytestmark = pytest.mark.browser

PHONE = (390, 844)
DESKTOP = (1366, 900)

PAGES = sorted(p.relative_to(SITE).as_posix() for p in (SITE / "book").glob("*.html"))


def has_widgets(path: str) -> bool:
    return "application/vnd.jupyter.widget-view+json" in (SITE / path).read_text()


WIDGET_PAGES = [p for p in PAGES if has_widgets(p)]
TABLE_PAGES = [p for p in PAGES if "scaling-lab-table-caption" in (SITE / p).read_text()]

#: Budgets, bytes transferred for one page with everything it loads (fonts included).
PAGE_BUDGET = 1.5e6
SLIDER_PAGE_BUDGET = 4.0e6
#: Every file of the built site, uncompressed, as it is uploaded to GitHub Pages (the
#: issue's target). The static figures are SVG, carried twice (page and downloadable
#: notebook), each compacted at build time (book/_ext/compact_svg.py).
SITE_BUDGET = 20e6
#: The smallest text a figure may show, in CSS px: 9 pt set text is 12 px at natural size.
MIN_FIGURE_TEXT_PX = 9.0
FIGURE_PAGES = [p for p in PAGES if "scaling-lab-figure-scroll" in (SITE / p).read_text()]


@pytest.fixture(scope="module")
def prefixed():
    with serve(PREFIX) as url:
        yield url


@pytest.fixture
def open_at(browser, prefixed):
    opened: list[LoadedPage] = []

    def _open(path: str, viewport: tuple[int, int]) -> LoadedPage:
        loaded = LoadedPage(browser, f"{prefixed}/{path}", viewport=viewport)
        opened.append(loaded)
        return loaded

    yield _open
    for loaded in opened:
        loaded.close()


def _visible_toggle(page, kind: str):
    toggles = page.locator(f".{kind}-toggle:visible")
    assert toggles.count() == 1, f"{toggles.count()} visible .{kind}-toggle buttons"
    return toggles.first


def test_phone_opens_the_chapter_list_and_follows_a_chapter_link(open_at, prefixed):
    loaded = open_at("book/happy-path.html", PHONE)
    page = loaded.page
    _visible_toggle(page, "primary").click()
    modal = page.locator("#pst-primary-sidebar-modal")
    page.wait_for_function(
        "document.querySelector('#pst-primary-sidebar-modal').open", timeout=3_000
    )
    link = modal.locator("nav.bd-links a.reference.internal[href*='vpnls']").first
    assert link.is_visible()
    box = link.bounding_box()
    assert box and 0 <= box["x"] and box["x"] + box["width"] <= PHONE[0] + 1
    link.click()
    page.wait_for_url(f"{prefixed}/book/vpnls.html*", timeout=10_000)
    page.locator("article h1").first.wait_for(state="visible", timeout=10_000)
    assert loaded.errors == [] and loaded.failed == [], loaded.errors + loaded.failed


def test_phone_opens_the_page_contents(open_at):
    loaded = open_at("book/happy-path.html", PHONE)
    page = loaded.page
    _visible_toggle(page, "secondary").click()
    page.wait_for_function(
        "document.querySelector('#pst-secondary-sidebar-modal').open", timeout=3_000
    )
    entries = page.locator("#pst-secondary-sidebar-modal a.nav-link")
    assert entries.count() >= 2 and entries.first.is_visible()
    assert loaded.errors == [], loaded.errors


def test_desktop_menu_button_collapses_the_sidebar_and_the_top_bar_is_gone(open_at):
    loaded = open_at("book/happy-path.html", DESKTOP)
    page = loaded.page
    sidebar = page.locator("#pst-primary-sidebar")
    assert sidebar.is_visible()
    # One search box (in the sidebar), none in an empty top bar.
    assert page.locator(".search-button-field:visible").count() == 1
    assert page.locator("#pst-header button:visible").count() == 0
    _visible_toggle(page, "primary").click()
    sidebar.wait_for(state="hidden", timeout=3_000)  # collapsed in place, not a pop-up
    assert not page.evaluate("document.querySelector('#pst-primary-sidebar-modal').open")


@pytest.mark.parametrize("path", TABLE_PAGES)
def test_no_table_caption_is_cut_at_phone_width(open_at, path):
    page = open_at(path, PHONE).page
    cut = page.evaluate(
        """(w) => [...document.querySelectorAll('.scaling-lab-table-caption')]
            .filter(c => { const r = c.getBoundingClientRect();
                return r.left < -1 || r.right > w + 1 || c.scrollWidth > c.clientWidth + 1; })
            .map(c => c.textContent.slice(0, 60))""",
        PHONE[0],
    )
    assert cut == [], cut
    # The cells have room: numbers in neighbouring cells cannot touch.
    padding = page.evaluate(
        """() => Math.min(...[...document.querySelectorAll('.scaling-lab-table td')]
            .map(td => parseFloat(getComputedStyle(td).paddingLeft)
                     + parseFloat(getComputedStyle(td).paddingRight)))"""
    )
    assert padding >= 8, f"{path}: cell padding {padding} px"


@pytest.mark.parametrize("path", WIDGET_PAGES)
def test_every_slider_readout_is_on_screen_at_phone_width(open_at, path):
    page = open_at(path, PHONE).page
    page.wait_for_selector(".scaling-lab-slider-figure .widget-readout", timeout=15_000)
    boxes = page.evaluate(
        """() => [...document.querySelectorAll(
                '.scaling-lab-slider-figure .widget-readout')]
            .filter(r => r.offsetParent !== null)
            .map(r => { const b = r.getBoundingClientRect();
                return [b.left, b.right, r.textContent]; })"""
    )
    assert boxes, f"{path}: no slider readout"
    off = [b for b in boxes if b[0] < 0 or b[1] > PHONE[0]]
    assert off == [], f"{path}: readouts off screen: {off}"


def _transferred(page) -> float:
    return page.evaluate(
        """() => [...performance.getEntriesByType('navigation'),
                  ...performance.getEntriesByType('resource')]
            .reduce((s, e) => s + e.transferSize, 0)"""
    )


@pytest.mark.parametrize("path", PAGES)
def test_page_weight_within_budget(open_at, path):
    loaded = open_at(path, DESKTOP)
    budget = SLIDER_PAGE_BUDGET if has_widgets(path) else PAGE_BUDGET
    total = _transferred(loaded.page)
    print(f"{path}: {total / 1e6:.2f} MB transferred (budget {budget / 1e6:.1f} MB)")
    assert 0 < total <= budget, f"{path}: {total / 1e6:.2f} MB > {budget / 1e6:.1f} MB"


def test_text_paints_before_the_widget_bundle_arrives(browser):
    # embed-amd.js (4.4 MB) is held back for 3 s: with a render-blocking script in
    # <head>, nothing paints until it arrives; deferred, the text paints first.
    path = WIDGET_PAGES[0]
    with serve(PREFIX, delays={"widgets/embed-amd.js": 3.0}) as url:
        loaded = LoadedPage(browser, f"{url}/{path}", viewport=DESKTOP)
        try:
            timing = loaded.page.evaluate(
                """() => ({
                    paint: performance.getEntriesByName('first-contentful-paint')[0]
                        ?.startTime,
                    script: performance.getEntriesByType('resource')
                        .find(e => e.name.includes('embed-amd.js'))?.responseEnd})"""
            )
        finally:
            loaded.close()
    assert timing["paint"] is not None and timing["script"] is not None, timing
    assert timing["script"] > 2_500, timing  # the delay took effect
    assert timing["paint"] < timing["script"] - 1_000, timing


def test_whole_site_within_budget():
    total = sum(f.stat().st_size for f in SITE.rglob("*") if f.is_file())
    print(f"site: {total / 1e6:.1f} MB")
    assert total <= SITE_BUDGET, f"site is {total / 1e6:.1f} MB"


CELL_INPUT = re.compile(r'<div class="cell_input docutils container">\s*(.*?)</pre>', re.S)


@pytest.mark.parametrize("path", PAGES)
def test_no_visible_code_cell_only_stores_values_for_the_text(path):
    shown = [
        html.unescape(re.sub(r"<[^>]+>", "", block))
        for block in CELL_INPUT.findall((SITE / path).read_text())
    ]
    glue_only = [code for code in shown if code.strip() and _only_glue_calls(code)]
    assert glue_only == [], f"{path}: {glue_only[:2]}"


def _only_glue_calls(code: str) -> bool:
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return False
    return all(
        isinstance(s, ast.Expr)
        and isinstance(s.value, ast.Call)
        and getattr(s.value.func, "id", getattr(s.value.func, "attr", None)) == "glue"
        for s in body
    )


def test_screen_readers_hear_the_slider_readout(open_at):
    page = open_at(WIDGET_PAGES[0], DESKTOP).page
    page.wait_for_selector(".scaling-lab-slider-figure .noUi-handle", timeout=15_000)
    handle = page.locator(".scaling-lab-slider-figure .noUi-handle").first
    handle.focus()
    at_start = handle.get_attribute("aria-valuenow") == "0"
    page.keyboard.press("ArrowRight" if at_start else "ArrowLeft")
    page.wait_for_timeout(200)
    pairs = page.evaluate(
        """() => [...document.querySelectorAll('.scaling-lab-slider-figure .noUi-handle')]
            .map(h => [h.getAttribute('aria-valuetext'),
                       h.closest('.widget-slider').querySelector('.widget-readout')
                        .textContent.trim()])"""
    )
    assert pairs and all(text == readout for text, readout in pairs), pairs


ICON = re.compile(r'class="([^"]*\b(?:fa-solid|fa-brands|fa-regular|fas|fab|far)\b[^"]*)"')


def test_icons_come_from_the_small_stylesheet_not_the_font_awesome_script():
    css = (SITE / "_static" / "icons.css").read_text()
    used, drawn = set(), set(re.findall(r"\.(fa[a-z-]*)\.fa-([a-z-]+)::before", css))
    for page in [*SITE.rglob("*.html")]:
        text = page.read_text(errors="replace")
        assert "fontawesome.js" not in text, page
        for classes in ICON.findall(text):
            names = classes.split()
            packs = [
                n
                for n in names
                if n in ("fa-solid", "fa-brands", "fa-regular", "fas", "fab", "far")
            ]
            icons = [
                n[3:] for n in names if n.startswith("fa-") and n not in packs and n != "fa-lg"
            ]
            used.update((p, i) for p in packs for i in icons)
    assert len(used) >= 10 and used <= drawn, sorted(used - drawn)


_SVG = "{http://www.w3.org/2000/svg}"
_FONT_PX = re.compile(r"font(?:-size)?:[^;]*?([0-9.]+)px")


def svg_smallest_label(svg: str) -> tuple[float, float]:
    """(smallest label size, figure width), both in the SVG's own units.

    matplotlib writes text as ``<text>`` (``svg.fonttype: none``). A mathtext label is
    one ``<text>`` of ``<tspan>`` pieces: its size is its largest piece (a superscript is
    set at 70% of its label, as in print).
    """
    root = ET.fromstring(svg)
    width = float(root.get("viewBox").split()[2])
    sizes = []
    for text in root.iter(f"{_SVG}text"):
        pieces = [text, *text.iter(f"{_SVG}tspan")]
        found = [float(m) for el in pieces for m in _FONT_PX.findall(el.get("style", ""))]
        if found and "".join(text.itertext()).strip():
            sizes.append(max(found))
    assert sizes, "an SVG figure with no text elements (drawn with svg.fonttype path?)"
    return min(sizes), width


def test_svg_label_sizes_are_read_as_set():
    # The reader behind the figure test: a 9 pt tick label whose superscript is 6.3 pt
    # counts as 9, and a 7 pt legend as 7, on a 500-unit-wide figure.
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 500 300">'
        '<text><tspan style="font-size: 9px">10</tspan><tspan style="font-size: 6.3px">19'
        "</tspan></text><text style=\"font: 7px 'DejaVu Sans'\">legend</text></svg>"
    )
    assert svg_smallest_label(svg) == (7.0, 500.0)


@pytest.mark.parametrize("path", FIGURE_PAGES)
def test_no_figure_text_is_smaller_than_9px_at_phone_width(open_at, path):
    # A desktop column shows each figure at least this wide (at its natural size, or the
    # 741 px column), so phone width is the harder case.
    page = open_at(path, PHONE).page
    shown = page.evaluate(
        """() => [...document.querySelectorAll('.scaling-lab-figure-scroll img')]
            .map(i => [i.getAttribute('src'), i.getBoundingClientRect().width])"""
    )
    assert shown, f"{path}: no figure"
    small = []
    for src, width in shown:
        assert src.endswith(".svg"), f"{path}: {src} is not a vector figure"
        assert width >= PHONE_MIN_WIDTH_PX - 0.5, (src, width)
        svg = (SITE / path).parent.joinpath(unquote(src)).resolve().read_text()
        label, natural = svg_smallest_label(svg)
        if label * width / natural < MIN_FIGURE_TEXT_PX:
            small.append((src, round(label * width / natural, 2)))
    frames = page.evaluate(
        """() => [...document.querySelectorAll('.scaling-lab-slider-figure img')]
            .filter(i => i.offsetParent !== null)
            .map(i => [i.naturalWidth, i.getBoundingClientRect().width])"""
    )
    text_in_frame_px = MIN_FONT_PT * SLIDER_DPI / 72  # every frame is checked at render
    for natural, width in frames:
        assert natural > 0 and width >= PHONE_MIN_WIDTH_PX - 0.5, (natural, width)
        if text_in_frame_px * width / natural < MIN_FIGURE_TEXT_PX:
            small.append(("slider frame", round(text_in_frame_px * width / natural, 2)))
    assert small == [], f"{path}: figure text below {MIN_FIGURE_TEXT_PX} px: {small}"


def test_compacted_svg_draws_the_same_as_matplotlibs(browser):
    # The site's figures go through book/_ext/compact_svg.py; drawn by Chromium at 2x, the
    # compacted figure matches matplotlib's own SVG pixel for pixel, up to anti-aliasing
    # at edges moved by the rounding (at most 0.005 pt).
    import base64
    import io
    import sys

    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(SITE.parents[1] / "book" / "_ext"))
    from compact_svg import compact_svg

    from ..test_compact_svg import matplotlib_svg

    original = matplotlib_svg()
    context = browser.new_context(device_scale_factor=2, viewport={"width": 800, "height": 400})
    page = context.new_page()
    drawn = []
    for svg in (original, compact_svg(original)):
        uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
        page.set_content(f'<body style="margin:0"><img id="f" style="width:720px" src="{uri}">')
        page.wait_for_function("document.getElementById('f').complete")
        shot = page.locator("#f").screenshot()
        drawn.append(np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=float))
    context.close()
    before, after = drawn
    assert before.shape == after.shape and before.std() > 10  # a figure, not a blank
    changed = np.abs(before - after) > 64
    assert changed.mean() < 0.002, f"{changed.mean():.4%} of pixels differ"
