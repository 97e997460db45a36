import base64
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scaling_lab as sl
from scaling_lab.analysis import (
    approach2_sweep,
    compounding_table,
    symmetric_offsets,
    vertex_shift,
    vertex_shift_taylor,
)


@pytest.mark.parametrize("n", [3, 4, 15, 50])
@pytest.mark.parametrize("grid", [1.5, 8.0, 100.0])
def test_shift_is_exactly_zero_on_symmetric_surfaces(n, grid):
    assert vertex_shift(0.31, 0.31, grid, n) == 0.0
    assert vertex_shift(0.7, 0.7, grid, n) == 0.0


def test_offsets_are_exactly_antisymmetric():
    u = symmetric_offsets(np.log10(7.0), 15)
    assert np.array_equal(u, -u[::-1])
    assert u[0] == -np.log10(7.0) and u[-1] == np.log10(7.0)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.1, 0.9), st.floats(0.1, 0.9), st.floats(1.5, 100.0), st.integers(3, 40))
def test_closed_form_matches_an_independent_polynomial_fit(alpha, beta, grid, n):
    u = np.linspace(-np.log10(grid), np.log10(grid), n)
    f = 10.0 ** (-alpha * u) + (alpha / beta) * 10.0 ** (beta * u)
    c2, c1, _ = np.polyfit(u, f, 2)
    expected = -c1 / (2 * c2)
    assert vertex_shift(alpha, beta, grid, n) == pytest.approx(expected, rel=1e-7, abs=1e-12)
    # Swapping the exponents mirrors the valley.
    assert vertex_shift(beta, alpha, grid, n) == pytest.approx(
        -vertex_shift(alpha, beta, grid, n), rel=1e-9, abs=1e-13
    )


@settings(max_examples=30, deadline=None)
@given(st.floats(0.1, 0.9), st.floats(0.1, 0.9), st.floats(2.0, 50.0), st.floats(0.3, 3.0))
def test_closed_form_predicts_numerical_approach2_intercepts(alpha, beta, grid, offset):
    s = sl.LossSurface(E=1.7, A=400.0, B=400.0, alpha=alpha, beta=beta)
    runs = sl.sample_isoflops(s, grid=grid, center_scale=offset)
    fit = sl.fit_approach2(runs)
    shift = vertex_shift(alpha, beta, grid, 15, center=-np.log10(offset))
    # Numerical Approach 2 can only resolve the vertex to the precision of the losses it
    # is given: when a narrow grid spans a loss range that is tiny next to the loss
    # itself (large exponents, large budgets), rounding of L limits the reference, not
    # the closed form. Allow ~50 ulp of the loss relative to that range.
    resolvable = 1e-14 * runs["loss"].max() / runs.groupby("budget")["loss"].agg(np.ptp).min()
    assert fit.a0 - s.a0 == pytest.approx(shift, rel=1e-8, abs=resolvable)
    assert fit.b0 - s.b0 == pytest.approx(-shift, rel=1e-8, abs=resolvable)


def test_taylor_term_is_the_small_grid_limit():
    chin = sl.SURFACES["chinchilla"]
    gaps = [
        abs(
            vertex_shift_taylor(chin.alpha, chin.beta, g) / vertex_shift(chin.alpha, chin.beta, g)
            - 1
        )
        for g in (8.0, 2.0, 1.2)
    ]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-3


def test_vertex_shift_broadcasts():
    out = vertex_shift(0.4, 0.2, np.array([2.0, 4.0, 8.0]))
    assert out.shape == (3,) and np.all(np.diff(out) > 0)


def test_sweep_rows_and_consistency():
    grids = [2.0, 8.0]
    df = approach2_sweep(sl.SURFACES, grids, sl.analysis.BIAS_CONFIGS)
    assert len(df) == 3 * len(sl.analysis.BIAS_CONFIGS) * 2
    row = df[(df.surface == "chinchilla") & (df.config == "offset 2×") & (df.grid == 8.0)].iloc[0]
    fit = sl.fit_approach2(
        sl.sample_isoflops(sl.SURFACES["chinchilla"], grid=8.0, center_scale=2.0)
    )
    assert row["b0"] == fit.b0 and row["a"] == fit.a
    assert row["D_extrap_err"] == sl.analysis.extrapolation_error(fit, sl.SURFACES["chinchilla"])
    assert row["center_scale"] == 2.0 and row["drift"] == 1.0


def test_compounding_table_identities():
    biases = {"offset": {"center_scale": 3.0}}
    table = compounding_table(sl.SURFACES, {"XS": 2.0, "L": 8.0}, biases)
    assert np.allclose(table["sum_of_separate"], table["asymmetry_alone"] + table["sampling_alone"])
    assert np.allclose(table["interaction"], table["combined"] - table["sum_of_separate"])
    sym = table.xs("symmetric", level="surface")
    assert np.abs(sym["interaction"]).max() <= 1e-12


def test_table_csv_download_keeps_full_precision():
    df = pd.DataFrame({"x": [1 / 3, np.pi, 1e-17]}, index=["a", "b", "c"])
    html = sl.report.table(df, "t.csv", float_format="{:.2f}").data
    assert "0.33" in html and 'download="t.csv"' in html
    payload = html.split("base64,")[1].split('"')[0]
    back = pd.read_csv(io.StringIO(base64.b64decode(payload).decode()), index_col=0)
    assert back["x"].tolist() == df["x"].tolist()  # bit-for-bit
    with pytest.raises(ValueError, match=r"must end with \.csv"):
        sl.report.table(df, "t.txt")


def test_glue_passes_plain_python_numbers(monkeypatch):
    seen = {}
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: seen.update({name: value}))
    sl.report.glue("x", np.float64(0.5))
    assert type(seen["x"]) is float and seen["x"] == 0.5
