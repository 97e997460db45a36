"""Every table in the book's cell outputs comes with a full-precision CSV download."""

from __future__ import annotations

import base64
import io
import json
import re

import pandas as pd
import pytest

from .conftest import SITE

PAGES = sorted(p.relative_to(SITE).as_posix() for p in (SITE / "book").glob("*.html"))
FLOAT = re.compile(r"(?<![\w.+-])-?\d+\.\d+(?:e[+-]\d+)?(?![\w.])")


def _noise(number: str) -> bool:
    """A float written with more digits than it needs: 17 significant digits, not repr.

    Text columns a chapter formats itself ("0.100") are not floats pandas wrote; they
    are left alone.
    """
    digits = re.sub(r"e.*$", "", number).replace("-", "").replace(".", "").lstrip("0")
    return len(digits) >= 16 and repr(float(number)) != number


LINK = re.compile(r'<a download="([^"]+\.csv)" href="data:text/csv;base64,([^"]+)">')


def output_tables(html: str) -> int:
    """Tables produced by code cells (the prose has none)."""
    outputs = re.findall(
        r'<div class="cell_output docutils container">(.*?)</div>\s*</div>', html, re.S
    )
    return sum(block.count("<table") for block in outputs)


@pytest.mark.parametrize("path", PAGES)
def test_each_output_table_has_a_csv_download(path):
    html = (SITE / path).read_text()
    links = LINK.findall(html)
    assert len(links) == output_tables(html), path
    for filename, payload in links:
        text = base64.b64decode(payload).decode()
        # Every float is written as its shortest round-trip form ("406.4", never
        # "406.39999999999998"), so the download reads as the value it holds.
        noisy = [f for f in FLOAT.findall(text) if _noise(f)]
        assert noisy == [], f"{filename}: {noisy[:5]}"
        frame = pd.read_csv(io.StringIO(text))
        rows = re.search(
            rf'download="{re.escape(filename)}".*?\(full precision, (\d+) rows\)', html, re.S
        )
        assert rows and len(frame) == int(rows.group(1)), filename


def test_download_link_saves_the_csv_in_the_browser(open_page):
    loaded = open_page("book/extrapolation.html")
    link = loaded.page.locator('a[download="extrapolation_d24.csv"]')
    with loaded.page.expect_download() as info:
        link.click()
    saved = pd.read_csv(info.value.path(), index_col=0)
    assert list(saved.index) == ["symmetric", "chinchilla", "asymmetric"]
    grids = ["XS", "S", "L", "XL"]
    assert list(saved.columns) == [
        f"{q}: {g}" for q in ("D* error", "compute wasted") for g in grids
    ]
    assert saved.loc["asymmetric", "D* error: XL"] < saved.loc["asymmetric", "D* error: XS"] < 0
    assert (saved.filter(like="compute wasted") >= 0).all().all()


NOTEBOOKS = sorted((SITE / "_sources" / "book").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_the_ipynb_download_is_the_executed_notebook(notebook):
    # The download button offers "the executed notebook": its code cells carry outputs
    # (myst-nb leaves them out for a chapter served from the execution cache; the
    # book's `reading` extension puts them back), without the saved slider frames.
    data = json.loads(notebook.read_text())
    code = [c for c in data["cells"] if c["cell_type"] == "code"]
    assert code and any(c.get("outputs") for c in code), f"{notebook.name}: no outputs"
    assert "widgets" not in data.get("metadata", {}), notebook.name


def test_chapters_offer_an_ipynb_download():
    assert len(NOTEBOOKS) >= 15, NOTEBOOKS
