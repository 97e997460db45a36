"""Every table in the book's cell outputs comes with a full-precision CSV download."""

from __future__ import annotations

import base64
import io
import re

import pandas as pd
import pytest

from .conftest import SITE

PAGES = sorted(p.relative_to(SITE).as_posix() for p in (SITE / "book").glob("*.html"))
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
        frame = pd.read_csv(io.StringIO(base64.b64decode(payload).decode()))
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
