"""Book tables: readable view plus a full-precision CSV download."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd

from scaling_lab.book.report import csv_data_uri


def _decode(uri: str) -> pd.DataFrame:
    payload = uri.split(",", 1)[1]
    return pd.read_csv(io.StringIO(base64.b64decode(payload).decode()), index_col=0)


def test_csv_keeps_full_precision():
    df = pd.DataFrame({"x": [1 / 3, np.pi]}, index=["a", "b"])
    back = _decode(csv_data_uri(df))
    np.testing.assert_array_equal(back["x"].to_numpy(), df["x"].to_numpy())


def test_multi_level_columns_become_one_header_row():
    df = pd.concat(
        {"D* error": pd.DataFrame({"XS": [0.1]}), "compute wasted": pd.DataFrame({"XS": [0.2]})},
        axis=1,
    )
    back = _decode(csv_data_uri(df))
    assert list(back.columns) == ["D* error: XS", "compute wasted: XS"]
    assert back.iloc[0].tolist() == [0.1, 0.2]


def test_csv_writes_the_shortest_round_trip_float():
    text = base64.b64decode(csv_data_uri(pd.DataFrame({"A": [406.4, 0.1 + 0.2]})).split(",")[1])
    assert b"406.4\n" in text and b"406.39999" not in text
    assert b"0.30000000000000004" in text  # still exact


def test_table_reads_in_words_with_the_caption_outside_the_scroll_box():
    from scaling_lab.book.report import table

    df = pd.DataFrame(
        {"approach2_a": [0.5, np.nan], "n_runs": [111_000_000, 2022]}, index=["x", "y"]
    )
    html = table(df, "t.csv", caption="A caption").data
    caption_at, scroll_at = html.index("A caption"), html.index("scaling-lab-table-scroll")
    assert caption_at < scroll_at and "<caption" not in html
    assert "Approach 2 a" in html and "n runs" in html and "approach2_a" not in html
    assert ">–<" in html.replace(" ", "") and "nan" not in html
    assert "111,000,000" in html and ">2022<" in html.replace(" ", "")
    back = _decode(csv_data_uri(df))
    assert list(back.columns) == ["approach2_a", "n_runs"]  # the CSV keeps the code names
