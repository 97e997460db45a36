"""The built site, read as a reader would: offline, in headless Chromium.

Run after ./scripts/build-book (scripts/test does both). Every browser check runs twice,
with the site at the server root and below a path prefix as on GitHub Pages (see
conftest.py). Screenshots of every page go to _build/browser-screenshots/.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from .conftest import PREFIX, SCREENSHOTS, SITE, serve

pytestmark = pytest.mark.browser

FIGURE = ".scaling-lab-slider-figure"
PAGE_LIMIT_BYTES = 5 * 1024 * 1024
SLIDER_UPDATE_LIMIT_S = 0.200


def expected_widgets(page_path: str) -> int:
    """Slider figures on a page, counted from the widget views embedded in its HTML."""
    html = (SITE / page_path).read_text()
    return html.count("application/vnd.jupyter.widget-view+json")


def visible_image(page, figure_index: int) -> str:
    figure = page.locator(FIGURE).nth(figure_index)
    return figure.locator("img:visible").first.get_attribute("src")


def widgets_rendered(page, expected: int, timeout_ms: int = 10_000) -> bool:
    """True once ``expected`` slider figures show their sliders and an image."""
    try:
        page.wait_for_function(
            """([selector, n]) => {
                const figs = document.querySelectorAll(selector);
                return figs.length === n && [...figs].every(f =>
                    f.querySelector('.noUi-handle') && f.querySelector('img'));
            }""",
            arg=[FIGURE, expected],
            timeout=timeout_ms,
        )
    except Exception:
        return False
    return True


PAGES = sorted(p.relative_to(SITE).as_posix() for p in (SITE / "book").glob("*.html"))
WIDGET_PAGES = [p for p in PAGES if expected_widgets(p) > 0]
#: Pages Sphinx writes at the site root, next to the redirect in index.html.
ROOT_PAGES = ["search.html", "genindex.html"]


def test_the_book_has_pages_and_widget_pages():
    assert len(PAGES) >= 4, PAGES
    assert "book/preliminaries.html" in WIDGET_PAGES


@pytest.mark.parametrize("path", PAGES + ROOT_PAGES)
def test_page_loads_offline_without_console_errors(open_page, site_url, path):
    loaded = open_page(path)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    where = "prefix_" if site_url.endswith(PREFIX) else ""
    loaded.page.screenshot(
        path=SCREENSHOTS / f"{where}{path.replace('/', '_')}.png", full_page=True
    )
    assert loaded.errors == [], loaded.errors
    assert loaded.failed == [], loaded.failed
    assert loaded.aborted == [], f"page asked for the network: {loaded.aborted}"
    # Equations are typeset by the bundled MathJax, not left as raw TeX.
    if "\\(" in (SITE / path).read_text() or "\\[" in (SITE / path).read_text():
        loaded.page.wait_for_selector("mjx-container", state="attached", timeout=10_000)


@pytest.mark.parametrize("path", PAGES)
def test_page_weight_html_plus_images_under_5_mb(path):
    html = (SITE / path).read_text()
    images = set(re.findall(r'src="\.\./(_images/[^"]+)"', html))
    total = len(html.encode()) + sum((SITE / img).stat().st_size for img in images)
    assert total < PAGE_LIMIT_BYTES, f"{path}: {total / 1e6:.2f} MB"


@pytest.mark.parametrize("path", WIDGET_PAGES)
def test_every_slider_changes_the_visible_figure(open_page, path):
    loaded = open_page(path)
    page = loaded.page
    n = expected_widgets(path)
    assert widgets_rendered(page, n), f"{path}: expected {n} slider figures"
    for i in range(n):
        figure = page.locator(FIGURE).nth(i)
        figure.scroll_into_view_if_needed()
        handles = figure.locator(".noUi-handle")
        assert handles.count() >= 1
        for k in range(handles.count()):
            handle = handles.nth(k)
            before = visible_image(page, i)
            value_before = handle.get_attribute("aria-valuenow")
            key = (
                "ArrowLeft"
                if value_before == handle.get_attribute("aria-valuemax")
                else "ArrowRight"
            )
            handle.focus()
            start = time.perf_counter()
            page.keyboard.press(key)
            page.wait_for_function(
                """([selector, i, before]) => {
                    const img = [...document.querySelectorAll(selector)][i]
                        .querySelectorAll('img');
                    const shown = [...img].find(x => x.offsetParent !== null);
                    return shown && shown.getAttribute('src') !== before;
                }""",
                arg=[FIGURE, i, before],
                timeout=2_000,
            )
            elapsed = time.perf_counter() - start
            assert handle.get_attribute("aria-valuenow") != value_before
            print(f"{path} figure {i} slider {k}: {elapsed * 1e3:.0f} ms")
            assert elapsed < SLIDER_UPDATE_LIMIT_S, f"slider {k} took {elapsed * 1e3:.0f} ms"
        figure.screenshot(path=SCREENSHOTS / f"{path.replace('/', '_')}-widget{i}.png")
    assert loaded.errors == [], loaded.errors
    assert loaded.failed == [], loaded.failed


def test_widgets_do_not_render_without_the_widget_javascript(open_page):
    # The same check that passes above must fail when the embed manager is missing:
    # this proves the sliders come from the bundled JavaScript and that the check can fail.
    path = WIDGET_PAGES[0]
    loaded = open_page(path, block=("widgets/embed-amd.js",))
    assert any(u.endswith("embed-amd.js") or "embed-amd.js?" in u for u in loaded.aborted)
    assert not widgets_rendered(loaded.page, expected_widgets(path), timeout_ms=3_000)


def test_site_root_opens_the_first_chapter(open_page, site_url):
    # https://OWNER.github.io/REPO/ serves index.html, a redirect to the first chapter.
    loaded = open_page("")
    loaded.page.wait_for_url(f"{site_url}/book/intro.html", timeout=5_000)
    assert loaded.page.locator("h1").count() >= 1
    assert loaded.errors == [] and loaded.failed == [], loaded.errors + loaded.failed


def test_search_finds_a_chapter_and_its_link_resolves(open_page, site_url):
    loaded = open_page("search.html?q=VPNLS")
    page = loaded.page
    page.wait_for_selector("#search-results li a", timeout=10_000)
    href = page.locator("#search-results li a").first.get_attribute("href")
    target = urllib.parse.urljoin(page.url, href)
    assert target.startswith(f"{site_url}/book/"), target
    response = page.goto(target)
    assert response is not None and response.status == 200, target
    assert loaded.errors == [] and loaded.failed == [], loaded.errors + loaded.failed


def test_prefix_server_serves_nothing_outside_the_prefix():
    # The prefixed checks above can fail: a root-absolute request gets a 404 there.
    with serve(PREFIX) as url:
        server = url.removesuffix(PREFIX)
        with urllib.request.urlopen(f"{url}/book/intro.html") as response:
            assert response.status == 200
        for path in ("/book/intro.html", "/_static/widgets/require.js", "/index.html"):
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(server + path)
            assert info.value.code == 404, path


ABSOLUTE_URL = re.compile(r"""(?:\b(?:src|href|action)=|url\()["']?/(?!/)""")


def test_no_root_absolute_urls_in_the_site():
    # A root-absolute URL ("/_static/x.js") works at the server root and breaks on a
    # project page; every page, stylesheet and the widget shim must use relative ones.
    files = [*SITE.rglob("*.html"), *SITE.rglob("*.css"), *(SITE / "_static/widgets").glob("*.js")]
    offending = {
        f.relative_to(SITE).as_posix(): m
        for f in files
        if (m := ABSOLUTE_URL.findall(f.read_text(errors="replace")))
    }
    assert len(files) > 20 and offending == {}, offending
