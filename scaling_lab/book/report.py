"""Tables in the book: a formatted view plus a full-precision CSV download.

The download link carries the CSV as a ``data:`` URI, so it works on the static site
with no server and no kernel.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable

import numpy as np
import pandas as pd
from IPython.display import HTML


def csv_data_uri(df: pd.DataFrame) -> str:
    """The table as a base64 ``data:text/csv`` URI, every float at full precision."""
    if isinstance(df.columns, pd.MultiIndex):  # one header row, so any CSV reader works
        df = df.set_axis([": ".join(map(str, c)) for c in df.columns], axis=1)
    text = df.to_csv(index=True, float_format="%.17g")
    return "data:text/csv;base64," + base64.b64encode(text.encode()).decode()


def table(
    df: pd.DataFrame,
    filename: str,
    float_format: str = "{:.3g}",
    caption: str | None = None,
    max_rows: int | None = None,
) -> HTML:
    """An HTML table rounded for reading, with a link to download the full-precision CSV.

    ``max_rows`` shows only the first rows on the page; the CSV always has all of them.
    """
    if not filename.endswith(".csv"):
        raise ValueError(f"filename must end with .csv, got {filename!r}")
    shown = df if max_rows is None else df.head(max_rows)
    styled = shown.style.format(float_format, subset=shown.select_dtypes("number").columns)
    if caption:
        styled = styled.set_caption(html.escape(caption))
    link = (
        f'<p class="scaling-lab-download"><a download="{html.escape(filename)}" '
        f'href="{csv_data_uri(df)}">Download this table as CSV</a> '
        f"(full precision, {len(df)} rows)</p>"
    )
    return HTML(styled.to_html() + link)


def machine_zero_format(
    fmt: str = "{:.3g}",
    tol: float = 1e-12,
    label: str = "0 (machine precision)",
    missing: str = "–",
) -> Callable[[object], str]:
    """A cell formatter for :func:`table`: ``fmt``, but ``|x| <= tol`` reads as ``label``.

    For differences and relative errors that are zero up to floating-point rounding,
    where printing ``-1.11022e-16`` would suggest a measured effect. ``tol`` should sit
    well above rounding and well below any real effect of the quantity shown. NaN (an
    undefined value, such as a relative error against zero) reads as ``missing``.
    """

    def format_cell(x: object) -> str:
        if isinstance(x, int | float | np.number):
            if np.isnan(x):
                return missing
            if abs(x) <= tol:
                return label
        return fmt.format(x)

    return format_cell


def glue(name: str, value: object) -> None:
    """Store ``value`` for the chapter text (myst-nb ``glue``), as a plain Python number.

    numpy scalars are converted first: numpy 2 writes them as ``np.float64(...)``, which
    the ``{glue:text}`` role cannot format.
    """
    from myst_nb import glue as myst_glue

    if isinstance(value, np.generic):
        value = value.item()
    myst_glue(name, value, display=False)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(x: float) -> str:
    """``x`` for prose, to two digits: ``3.8e25`` reads ``3.8 × 10²⁵``."""
    mantissa, exponent = f"{x:.2g}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"
