"""Huber and weighted VPNLS (``fit_vpnls(..., loss=, delta=, weights=)``)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scaling_lab as sl
from scaling_lab.bench import PUBLISHED_SETS, published_runs
from scaling_lab.fitting.robust import huber, huber_coefficients, huber_line_search
from scaling_lab.fitting.vpnls import _Projection

GOLDEN = Path(__file__).parent / "data" / "vpnls_default_golden.json"


def max_rel_error(fit, surface):
    return max(abs(v) for v in fit.relative_errors(surface).values())


#: The arithmetic the golden file was written in: bit-for-bit equality is a claim about
#: one arithmetic only (another BLAS kernel or SIMD level changes the last bits).
GOLDEN_ARITHMETIC = ("Haswell", ("X86_V3",))


def _arithmetic() -> tuple[str, tuple[str, ...]]:
    import scipy.linalg  # noqa: F401  (loads scipy's OpenBLAS too)
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    from threadpoolctl import threadpool_info

    blas = sorted(
        {i.get("architecture") for i in threadpool_info() if i["internal_api"] == "openblas"}
    )
    simd = tuple(f for f in __cpu_dispatch__ if __cpu_features__.get(f))
    return (blas[0] if len(blas) == 1 else ",".join(map(str, blas))), simd


def test_default_fit_is_unchanged_to_the_last_bit():
    """Every float of the default fit equals the value the unmodified code produced.

    Provenance: ``tests/data/vpnls_default_golden.json`` was written by
    ``tests/data/make_vpnls_golden.py`` with ``fit_vpnls`` as it stood at commit caeaccf,
    and committed (a101a26) before the ``loss``/``weights`` options were added, so this
    compares against the original implementation: 109 fits over the three presets,
    three grids, three noise levels and all four refinements. Floats are stored as
    ``float.hex``. In the arithmetic the file was written in (:data:`GOLDEN_ARITHMETIC`)
    the comparison is exact, iterations and messages included; in any other (CI's
    second-arithmetic pass, another CPU) the fitted losses at the runs must agree to
    1e-8 relative: rounding moves the poorly determined A and B of a noisy ±2x design by
    up to about 1e-7, where Nelder-Mead stops by about 1e-9 in the loss, and whether
    L-BFGS-B's last line search reports "abnormal", so status and iterations are compared
    only in the golden arithmetic.
    """
    golden = json.loads(GOLDEN.read_text())
    assert "caeaccf" in golden["generated_by"]
    exact = _arithmetic() == GOLDEN_ARITHMETIC
    for case in golden["cases"]:
        df = sl.sample_isoflops(
            sl.SURFACES[case["surface"]],
            grid=case["grid"],
            noise=case["noise"],
            seed=case["seed"],
            center_scale=case.get("center_scale", 1.0),
            drift=case.get("drift", 1.0),
        )
        fit = sl.fit_vpnls(df, method=case["method"])
        if exact:
            for name in ("E", "A", "B", "alpha", "beta", "rss"):
                assert float(getattr(fit, name)).hex() == case[name], (case, name)
        else:  # the fitted losses, which rounding cannot move the way it moves A and B
            names = ("E", "A", "B", "alpha", "beta")
            was = sl.LossSurface(*(float.fromhex(case[n]) for n in names))
            np.testing.assert_allclose(
                fit.loss(df["params"], df["tokens"]),
                was.loss(df["params"], df["tokens"]),
                rtol=1e-8,
                err_msg=str(case),
            )
        if exact:
            assert (fit.n_iter, str(fit.status), fit.message) == (
                case["n_iter"],
                case["status"],
                case["message"],
            )


@pytest.mark.parametrize("name", ["symmetric", "chinchilla", "asymmetric"])
@pytest.mark.parametrize("grid", [2.0, 8.0, 32.0])
def test_huber_and_weighted_fits_recover_noise_free_surfaces(name, grid):
    s = sl.SURFACES[name]
    df = sl.sample_isoflops(s, grid=grid)
    w = np.linspace(0.2, 3.0, len(df))
    for kwargs in ({"loss": "huber"}, {"weights": w}, {"loss": "huber", "weights": w}):
        fit = sl.fit_vpnls(df, **kwargs)
        assert max_rel_error(fit, s) <= 1e-10, (kwargs, fit)
        assert fit.status is sl.FitStatus.CONVERGED


def test_huber_recovers_under_offset_and_drift():
    s = sl.SURFACES["asymmetric"]
    df = sl.sample_isoflops(s, grid=16, center_scale=3.0, drift=3.0)
    assert max_rel_error(sl.fit_vpnls(df, loss="huber"), s) <= 1e-10


@pytest.mark.parametrize("seed", range(8))
def test_large_outliers_move_the_huber_fit_less(seed):
    """Four runs 10 sd too high: the largest relative change of E, A, B, alpha, beta."""
    truth = sl.SURFACES["chinchilla"]
    clean = sl.sample_isoflops(truth, noise=0.01, seed=seed)
    dirty = clean.copy()
    rows = np.random.default_rng(seed).choice(len(dirty), size=4, replace=False)
    dirty.loc[rows, "loss"] += 0.1  # four runs 10 sd too high
    shift = {}
    for loss in ("squared", "huber"):
        a, b = sl.fit_vpnls(clean, loss=loss), sl.fit_vpnls(dirty, loss=loss)
        shift[loss] = max(abs(v) for v in b.relative_errors(a.surface).values())
    assert shift["huber"] < 0.5 * shift["squared"], shift


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=75, max_size=75))
def test_integer_weights_equal_repeated_runs(counts):
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.01, seed=4)
    weighted = sl.fit_vpnls(df, weights=np.array(counts, dtype=float))
    repeated = sl.fit_vpnls(df.loc[df.index.repeat(counts)].reset_index(drop=True))
    for name in ("E", "A", "B", "alpha", "beta"):
        assert getattr(weighted, name) == pytest.approx(getattr(repeated, name), rel=1e-7), name


def test_weights_by_column_name_match_an_array():
    df = sl.sample_isoflops(sl.SURFACES["asymmetric"], noise=0.01, seed=1)
    df["w"] = np.geomspace(1.0, 4.0, len(df))
    by_name = sl.fit_vpnls(df, weights="w", loss="huber")
    by_array = sl.fit_vpnls(df, weights=df["w"].to_numpy(), loss="huber")
    assert by_name.surface == by_array.surface
    assert by_name.method == "vpnls/gauss-newton/huber"


def test_huber_fit_is_a_minimum_of_the_huber_objective():
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.01, seed=2)
    fit = sl.fit_vpnls(df, loss="huber")
    prob = _Projection(np.log(df["params"].to_numpy()), np.log(df["tokens"].to_numpy()), df["loss"])
    loss, w = df["loss"].to_numpy(), np.ones(len(df))

    def objective(theta):
        X = prob.design(np.asarray(theta))
        c = huber_coefficients(X, loss, w, 1e-3, np.array([fit.E, fit.A, fit.B]))
        return float(w @ huber(loss - X @ c, 1e-3))

    best = objective([fit.alpha, fit.beta])
    for d in ([1e-4, 0], [-1e-4, 0], [0, 1e-4], [0, -1e-4], [1e-4, 1e-4], [-1e-4, 1e-4]):
        assert objective([fit.alpha + d[0], fit.beta + d[1]]) > best
    # The inner coefficients are the exact Huber minimiser at the fitted exponents.
    from scipy.optimize import minimize

    X = prob.design(np.array([fit.alpha, fit.beta]))
    ref = minimize(
        lambda c: float(w @ huber(loss - X @ (c * [1, 100, 100]), 1e-3)),
        np.array([fit.E, fit.A / 100, fit.B / 100]) * 1.01,
        method="Nelder-Mead",
        options={"xatol": 1e-12, "fatol": 1e-16, "maxiter": 20000},
    )
    assert best <= ref.fun * (1 + 1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 60), delta=st.sampled_from([1e-3, 0.05]))
def test_huber_line_search_finds_the_minimum_along_the_line(seed, n, delta):
    rng = np.random.default_rng(seed)
    r, a, w = rng.normal(0, 0.1, n), rng.normal(0, 1, n), rng.uniform(0.2, 3.0, n)
    slope0 = -float((w * a) @ np.clip(r, -delta, delta))
    if slope0 >= 0:  # search along the descent direction
        a, slope0 = -a, -slope0

    def phi(t):
        return float(w @ huber(r - t * a, delta))

    t = huber_line_search(r, a, w, delta, slope0)
    # A dense scan of the line never beats the exact minimiser, and no nearby point does.
    scan = np.linspace(0, 4 * max(t, 1e-6), 4001)
    assert phi(t) <= min(phi(u) for u in scan) + 1e-15 * max(phi(0.0), 1.0)
    for h in (1e-7, -1e-7):
        assert phi(t) <= phi(max(t + h * max(t, 1.0), 0.0)) + 1e-16


def _huber_problem(df: pd.DataFrame, delta: float = 1e-3):
    from scaling_lab.fitting.robust import _HuberProblem

    base = _Projection(
        np.log(df["params"].to_numpy(float)),
        np.log(df["tokens"].to_numpy(float)),
        df["loss"].to_numpy(float),
    )
    return _HuberProblem(base, np.ones(len(df)), delta)


@pytest.mark.parametrize("name", PUBLISHED_SETS)
def test_inner_huber_solve_is_exact_from_any_start(name):
    """The projected objective is a function of the exponents alone: the inner solve
    lands on the same minimum value from distant starts, also where few residuals lie
    inside delta (near-L1 problems, as on the OLMo ladder and Gadre et al.'s runs)."""
    df = published_runs(name)
    prob = _huber_problem(df).base
    w = np.ones(len(df))
    rng = np.random.default_rng(7)
    for theta in rng.uniform(0.1, 0.8, size=(10, 2)):
        X = prob.design(theta)
        c0 = prob.ols(theta)["coef"]
        values = []
        for k in range(5):
            start = c0 * (1 + 0.3 * rng.standard_normal(3)) if k else c0
            c = huber_coefficients(X, prob.loss, w, 1e-3, start)
            r = prob.loss - X @ c
            values.append(float(w @ huber(r, 1e-3)))
            # First-order optimality: the gradient in (E, A, B) vanishes.
            grad = X.T @ (w * np.clip(r, -1e-3, 1e-3)) / np.linalg.norm(X, axis=0)
            assert np.max(np.abs(grad)) <= 1e-10 * values[-1], (theta, k)
        assert max(values) - min(values) <= 1e-12 * min(values), (theta, values)


def test_huber_with_a_wide_delta_is_least_squares():
    df = sl.sample_isoflops(sl.SURFACES["symmetric"], noise=0.01, seed=3)
    ls, hub = sl.fit_vpnls(df), sl.fit_vpnls(df, loss="huber", delta=1.0)
    for name in ("E", "A", "B", "alpha", "beta"):
        assert getattr(hub, name) == pytest.approx(getattr(ls, name), rel=1e-9), name


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"weights": "nope"}, ["weights names column 'nope'"]),
        ({"weights": np.ones(3)}, ["one value per run (75)", "got 3"]),
        ({"weights": np.r_[np.ones(74), -1.0]}, ["positive", "rows [74]"]),
        ({"loss": "huber", "delta": 0.0}, ["delta must be a positive"]),
        ({"loss": "huber", "method": "nelder-mead"}, ["loss='huber' supports"]),
        ({"loss": "l1"}, ["loss must be one of"]),
    ],
)
def test_bad_robust_options_raise_value_errors_naming_the_problem(kwargs, words):
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"])
    with pytest.raises(ValueError) as info:
        sl.fit_vpnls(df, **kwargs)
    for word in words:
        assert word in str(info.value)


def test_weighted_grid_only_matches_unweighted_grid_with_equal_weights():
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"], noise=0.01, seed=0)
    a = sl.fit_vpnls(df, method="grid")
    b = sl.fit_vpnls(df, method="grid", weights=np.full(len(df), 2.5))
    assert (a.alpha, a.beta) == (b.alpha, b.beta)
    assert isinstance(b.to_frame(), pd.DataFrame)


def test_robust_benchmark_times_both_fits_on_a_published_set(monkeypatch):
    from scaling_lab import bench, datasets

    if not Path(datasets.os.environ.get(datasets.MIRROR_VARIABLE, "/nonexistent")).is_dir():
        pytest.skip("needs the offline mirror (SCALING_LAB_DATA)")
    table = bench.robust_run(repeats=1, sets=("olmo_ladder",))
    row = table.loc["olmo_ladder"]
    assert row["runs"] == 30 and row["squared_ms"] > 0
    assert row["ratio"] == pytest.approx(row["huber_ms"] / row["squared_ms"])


# The refinement of the exponents: a trust-region Newton iteration on the projected
# Huber objective F(alpha, beta), with the exact gradient and the exact Hessian of the
# current quadratic piece.


def _projected_huber(prob, theta, start) -> float:
    """F(alpha, beta) by the exact inner solve, for the reference optimisers below."""
    return prob.state(np.asarray(theta, dtype=float), start).value


@pytest.mark.parametrize(
    ("name", "seed"), [("chinchilla", 0), ("asymmetric", 1), ("symmetric", 2), ("chinchilla", 3)]
)
def test_piece_hessian_equals_finite_differences_of_the_gradient(name, seed):
    """Where the quadratic piece does not change, the Hessian of F is the derivative of
    its envelope-theorem gradient: central differences agree to 1e-5 of its norm."""
    df = sl.sample_isoflops(sl.SURFACES[name], noise=0.01, seed=seed)
    fit = sl.fit_vpnls(df, loss="huber")
    prob = _huber_problem(df)
    theta = np.array([fit.alpha, fit.beta]) + 0.003  # off the optimum: a non-zero gradient
    s = prob.state(theta, np.array([fit.E, fit.A, fit.B]))
    h_aa, h_ab, h_bb = prob.hessian(s)
    step = 1e-5
    columns = []
    for k in range(2):
        e = np.zeros(2)
        e[k] = step
        plus, minus = prob.state(theta + e, s), prob.state(theta - e, s)
        inside = np.abs(s.resid) <= 1e-3
        for other in (plus, minus):  # the difference quotient stays on one piece
            assert np.array_equal(np.abs(other.resid) <= 1e-3, inside)
        columns.append((plus.gradient - minus.gradient) / (2 * step))
    fd = np.column_stack(columns)
    hessian = np.array([[h_aa, h_ab], [h_ab, h_bb]])
    assert np.max(np.abs(hessian - fd)) <= 1e-5 * np.max(np.abs(hessian)), (hessian, fd)


@settings(max_examples=200, deadline=None)
@given(
    p=st.floats(-1e3, 1e3),
    q=st.floats(-1e3, 1e3),
    t=st.floats(-1e3, 1e3),
)
def test_positive_definite_model_takes_absolute_eigenvalues(p, q, t):
    from scaling_lab.fitting.robust import _positive_definite

    h = np.array([[p, q], [q, t]])
    lam, vec = np.linalg.eigh(h)
    big = np.abs(lam).max()
    if big == 0:  # no curvature at all: no model
        assert _positive_definite((p, q, t)) is None
        return
    want = (vec * np.maximum(np.abs(lam), 1e-8 * big)) @ vec.T
    a, b, c = _positive_definite((p, q, t))
    np.testing.assert_allclose([[a, b], [b, c]], want, rtol=1e-9, atol=1e-9 * big)
    assert np.linalg.eigvalsh(np.array([[a, b], [b, c]])).min() > 0


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    radius=st.floats(1e-4, 1.0),
    held=st.sampled_from([(False, False), (True, False), (False, True)]),
)
def test_dogleg_step_descends_within_the_trust_radius(seed, radius, held):
    """The step lies inside the radius, points downhill, is the Newton step whenever that
    fits, and lowers the model at least as much as the best steepest-descent step does."""
    from scaling_lab.fitting.robust import _dogleg, _newton_step

    rng = np.random.default_rng(seed)
    root = rng.normal(size=(2, 2))
    m = root @ root.T + 1e-3 * np.eye(2)
    model = (m[0, 0], m[0, 1], m[1, 1])
    held = np.array(held)
    g = np.where(held, 0.0, rng.normal(size=2))
    step = _dogleg(model, g, held, radius)
    assert np.hypot(*step) <= radius * (1 + 1e-12)
    assert g @ step < 0 and not np.any(step[held])

    def decrease(d):
        return -(g @ d) - 0.5 * d @ m @ d

    newton = _newton_step(model, g, held)
    if np.hypot(*newton) <= radius:
        np.testing.assert_array_equal(step, newton)
    u = np.linspace(0, radius / np.hypot(*g), 2001)  # steepest-descent steps -u g, scanned
    best_sd = np.max(u * (g @ g) - 0.5 * u**2 * (g @ m @ g))
    assert decrease(step) >= best_sd * (1 - 1e-9)


def _reference_huber_fit(df: pd.DataFrame):
    """An independent minimiser of F: Nelder-Mead on the exponents from the least-squares
    grid point, every value by the exact inner solve (slow, but shares no step logic)."""
    from scipy.optimize import minimize

    prob = _huber_problem(df)
    grid_fit = sl.fit_vpnls(df, method="grid")
    start = np.array([grid_fit.E, grid_fit.A, grid_fit.B])
    res = minimize(
        lambda th: _projected_huber(prob, np.clip(th, 0.05, 0.95), start),
        np.array([grid_fit.alpha, grid_fit.beta]),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-16, "maxiter": 4000},
    )
    return prob, float(res.fun)


@pytest.mark.parametrize("name", PUBLISHED_SETS)
def test_huber_fit_on_published_sets_is_no_worse_than_a_reference_minimiser(name):
    df = published_runs(name)
    fit = sl.fit_vpnls(df, loss="huber")
    assert fit.status is sl.FitStatus.CONVERGED, fit.message
    prob, reference = _reference_huber_fit(df)
    value = _projected_huber(prob, [fit.alpha, fit.beta], np.array([fit.E, fit.A, fit.B]))
    assert value <= reference * (1 + 1e-12), (value, reference)


@settings(max_examples=25, deadline=None)
@given(
    surface=st.sampled_from(list(sl.SURFACES)),
    grid=st.sampled_from([2.0, 8.0, 32.0]),
    seed=st.integers(0, 2**31 - 1),
    noise=st.sampled_from(["gaussian", "student-t", "outliers"]),
)
def test_huber_fit_is_a_stationary_minimum_across_random_designs(surface, grid, seed, noise):
    """Across presets, grid widths and noise models: the refinement converges, stops
    where the projected gradient vanishes, and no nearby exponent pair does better."""
    from scaling_lab.fitting.robust import HUBER_GTOL

    df = sl.sample_isoflops(sl.SURFACES[surface], grid=grid, seed=seed)
    rng = np.random.default_rng(seed)
    if noise == "gaussian":
        df["loss"] += rng.normal(0, 0.01, len(df))
    elif noise == "student-t":
        df["loss"] += 0.006 * rng.standard_t(3, len(df))
    else:
        df["loss"] += rng.normal(0, 0.01, len(df)) + 0.05 * (rng.random(len(df)) < 0.05)
    fit = sl.fit_vpnls(df, loss="huber")
    assert fit.status in (sl.FitStatus.CONVERGED, sl.FitStatus.BOUND_HIT), fit.message
    prob = _huber_problem(df)
    s = prob.state(np.array([fit.alpha, fit.beta]), np.array([fit.E, fit.A, fit.B]))
    interior = (0.05 + 1e-6 < s.theta) & (s.theta < 0.95 - 1e-6)
    assert np.all(np.abs(s.gradient[interior]) <= HUBER_GTOL * s.value * 10)
    for d in ([1e-5, 0], [-1e-5, 0], [0, 1e-5], [0, -1e-5], [1e-5, -1e-5], [-1e-5, 1e-5]):
        theta = np.clip(s.theta + d, 0.05, 0.95)
        assert prob.state(theta, s).value >= s.value * (1 - 1e-13)


def test_huber_refinement_reports_the_iteration_limit():
    df = sl.sample_isoflops(sl.SURFACES["asymmetric"], noise=0.02, seed=5)
    assert sl.fit_vpnls(df, loss="huber").n_iter > 2
    fit = sl.fit_vpnls(df, loss="huber", max_iter=2)
    assert fit.status is sl.FitStatus.MAX_ITER and "iteration limit (2)" in fit.message
