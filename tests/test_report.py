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
