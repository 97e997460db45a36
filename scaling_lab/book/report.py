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
    # No float_format: pandas then writes each float as its shortest round-trip
    # representation (repr), so 406.4 reads "406.4", not "406.39999999999998".
    text = df.to_csv(index=True)
    return "data:text/csv;base64," + base64.b64encode(text.encode()).decode()


#: How a missing value (NaN, None) reads in a table.
MISSING = "–"

#: Display names for column and index labels that are code names in the library's
#: frames. The CSV download keeps the code names (they are what a script reads).
HEADER_WORDS: dict[str, str] = {
    "approach2_a": "Approach 2 a",
    "approach2_b": "Approach 2 b",
    "approach2_error": "Approach 2 error",
    "vpnls_a": "VPNLS a",
    "vpnls_alpha": "VPNLS α",
    "vpnls_beta": "VPNLS β",
    "vpnls_error": "VPNLS error",
    "vpnls_status": "VPNLS status",
    "relative_error": "relative error",
    "relative_rss": "relative RSS",
    "rel_diff": "relative difference",
    "abs_diff": "absolute difference",
    "abs_error": "absolute error",
    "rss": "RSS",
}


def readable_label(label: object) -> object:
    """A header label in words: a known code name from HEADER_WORDS, else ``_`` as spaces.

    Non-string labels (numbers, tuples of a MultiIndex) pass through, element-wise for
    tuples.
    """
    if isinstance(label, tuple):
        return tuple(readable_label(part) for part in label)
    if not isinstance(label, str):
        return label
    return HEADER_WORDS.get(label, label.replace("_", " "))


def readable_headers(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its column labels and index names in words (values untouched)."""
    out = df.rename(columns=readable_label)
    out.index = out.index.set_names([readable_label(n) for n in out.index.names])
    out.columns = out.columns.set_names([readable_label(n) for n in out.columns.names])
    return out


def _count(x: object) -> str:
    """An integer as a count: separators from 10,000 on (so years stay 2022)."""
    return f"{x:,}" if abs(int(x)) >= 10_000 else f"{x}"


def table(
    df: pd.DataFrame,
    filename: str,
    float_format: str | Callable[[object], str] | dict = "{:.3g}",
    caption: str | None = None,
    max_rows: int | None = None,
    csv: pd.DataFrame | None = None,
) -> HTML:
    """An HTML table rounded for reading, with a link to download the full-precision CSV.

    ``max_rows`` shows only the first rows on the page; the CSV always has all of them.
    ``csv``, when given, is the frame the download holds instead of ``df`` (the detail
    behind a summary shown on the page).
    Column labels and index names are shown in words (:func:`readable_label`); the CSV
    keeps them as they are. Integer columns read as counts, with thousands separators
    from 10,000 on (a string ``float_format`` applies to the other numbers); missing
    values read as ``–``. The caption sits above the table, outside the box that scrolls
    sideways when the table is wider than the page, so it is never cut off.
    """
    if not filename.endswith(".csv"):
        raise ValueError(f"filename must end with .csv, got {filename!r}")
    shown = df if max_rows is None else df.head(max_rows)
    numeric = [readable_label(c) for c in shown.select_dtypes("number").columns]
    if isinstance(float_format, dict):  # per-column formats, keyed by the code names
        float_format = {readable_label(c): f for c, f in float_format.items()}
        numeric = [c for c in numeric if c in float_format]
    styled = readable_headers(shown).style.format(na_rep=MISSING)
    if isinstance(float_format, str):  # counts read as counts: 111,000,000, not 1.11e+08
        counts = [readable_label(c) for c in shown.select_dtypes("integer").columns]
        styled = styled.format(_count, subset=counts, na_rep=MISSING)
        numeric = [c for c in numeric if c not in counts]
    styled = styled.format(float_format, subset=numeric, na_rep=MISSING)
    full, what = (df, "this table") if csv is None else (csv, "the full table")
    parts = ['<div class="scaling-lab-table">']
    if caption:
        parts.append(f'<p class="scaling-lab-table-caption">{html.escape(caption)}</p>')
    parts.append(f'<div class="scaling-lab-table-scroll">{styled.to_html()}</div>')
    parts.append(
        f'<p class="scaling-lab-download"><a download="{html.escape(filename)}" '
        f'href="{csv_data_uri(full)}">Download {what} as CSV</a> '
        f"(full precision, {len(full)} rows)</p>"
    )
    parts.append("</div>")
    return HTML("".join(parts))


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
