"""Kaplan's non-embedding allocation on a Chinchilla truth (scaling_lab.kaplan)."""

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

import scaling_lab as sl
from scaling_lab.kaplan import (
    FACTORS,
    Procedure,
    Schedule,
    Shape,
    budget_for,
    convention_comparison,
    exponent_limits,
    factor_table,
    fit_exponent,
    fit_procedure,
    kaplan_budget_range,
    local_exponent,
    optimal_size,
    procedure_optimum,
    where_effect_stops,
    with_count,
)

TRUTH = sl.SURFACES["chinchilla"]


def test_without_embeddings_kaplan_finds_chinchillas_exponent():
    shape = Shape(vocab=0)
    fit = fit_exponent(TRUTH, 1e12, 1e24, shape)
    assert fit.exponent == pytest.approx(TRUTH.a, abs=1e-10)
    np.testing.assert_allclose(
        optimal_size(TRUTH, [1e15, 1e22], shape), TRUTH.N_opt([1e15, 1e22]), rtol=1e-11
    )


@pytest.mark.parametrize("vocab", [8000, 50257, 256000])
@pytest.mark.parametrize("budget", [1e13, 1e17, 1e21])
def test_optimal_size_is_the_minimum_of_the_loss(vocab, budget):
    shape = Shape(vocab=vocab)
    n = optimal_size(TRUTH, budget, shape)

    def loss(x):
        return TRUTH.loss(shape.total(np.exp(x)), budget / (6 * np.exp(x)))

    res = minimize_scalar(
        loss, bounds=(np.log(n) - 3, np.log(n) + 3), method="bounded", options={"xatol": 1e-10}
    )
    assert np.exp(res.x) == pytest.approx(n, rel=1e-6)
    assert loss(np.log(n)) <= loss(res.x) + 1e-15
    assert budget_for(TRUTH, n, shape) == pytest.approx(budget, rel=1e-11)


def test_local_exponent_is_the_slope_and_has_its_limits():
    shape = Shape()
    n = np.geomspace(1e3, 1e12, 7)
    c = budget_for(TRUTH, n, shape)
    h = 1e-4
    up = np.log(budget_for(TRUTH, n * np.exp(h), shape))
    down = np.log(budget_for(TRUTH, n * np.exp(-h), shape))
    slope = 2 * h / (up - down)
    np.testing.assert_allclose(local_exponent(TRUTH, n, shape), slope, rtol=1e-7)
    assert np.all(np.diff(c) > 0)
    small, large = exponent_limits(TRUTH)
    assert local_exponent(TRUTH, 1e-3, shape) == pytest.approx(small, rel=1e-3)
    assert local_exponent(TRUTH, 1e18, shape) == pytest.approx(large, rel=1e-3)


def test_the_effect_over_kaplans_range_and_where_it_stops():
    shape = Shape()
    lo, hi = kaplan_budget_range(TRUTH, shape)
    small = fit_exponent(TRUTH, lo, hi, shape).exponent
    wide = fit_exponent(TRUTH, lo, 1e24, shape).exponent
    assert small > wide > TRUTH.a + 0.05
    stop = where_effect_stops(TRUTH, shape, 0.01)
    n = optimal_size(TRUTH, stop, shape)
    assert local_exponent(TRUTH, n, shape) == pytest.approx(TRUTH.a + 0.01, rel=1e-9)
    later = optimal_size(TRUTH, np.geomspace(stop, 1e30, 20)[1:], shape)
    assert np.all(local_exponent(TRUTH, later, shape) < TRUTH.a + 0.01)


def test_bad_input():
    with pytest.raises(ValueError, match="vocab"):
        Shape(vocab=-1)
    with pytest.raises(ValueError, match="aspect_ratio"):
        Shape(aspect_ratio=0)
    with pytest.raises(ValueError, match="budgets"):
        optimal_size(TRUTH, -1.0, Shape())
    with pytest.raises(ValueError, match="c_min"):
        fit_exponent(TRUTH, 1e20, 1e12, Shape())


# --- the other factors and the real-data conventions ------------------------------------


def test_procedure_optimum_matches_the_closed_forms():
    shape = Shape()
    c = np.geomspace(1e12, 1e22, 4)
    kaplan = procedure_optimum(TRUTH, c, shape, Procedure())
    np.testing.assert_allclose(kaplan, optimal_size(TRUTH, c, shape), rtol=1e-6)
    total = procedure_optimum(TRUTH, c, shape, Procedure("total", "total"))
    np.testing.assert_allclose(shape.total(total), TRUTH.N_opt(c), rtol=1e-6)
    zero = Procedure("total", "total", Schedule(penalty=0.0))
    np.testing.assert_allclose(procedure_optimum(TRUTH, c, shape, zero), total, rtol=1e-9)


def test_schedule_penalty_and_its_optimum():
    sched = Schedule(tokens=1e10, penalty=0.1)
    np.testing.assert_allclose(
        sched.extra_loss([0.0, 5e9, 1e10, 1e12]), [0.1, 0.05, 0, 0], atol=1e-15
    )
    shape = Shape()
    proc = Procedure("total", "total", sched)
    for budget in (1e17, 1e20):
        n = procedure_optimum(TRUTH, budget, shape, proc)

        def loss(x, budget=budget):
            d = budget / (6 * shape.total(np.exp(x)))
            return TRUTH.loss(shape.total(np.exp(x)), d) + sched.extra_loss(d)

        res = minimize_scalar(
            loss, bounds=(np.log(n) - 2, np.log(n) + 2), method="bounded", options={"xatol": 1e-10}
        )
        assert np.exp(res.x) == pytest.approx(n, rel=1e-5)
        assert loss(np.log(n)) <= loss(res.x) + 1e-14
    # a run shorter than its schedule is penalised, so the optimum moves to more tokens
    assert procedure_optimum(TRUTH, 1e18, shape, proc) < procedure_optimum(
        TRUTH, 1e18, shape, Procedure("total", "total")
    )


def test_factor_table():
    shape = Shape()
    table = factor_table(TRUTH, shape, Schedule())
    assert list(table.index) == list(FACTORS)
    exp = table["exponent"]
    assert exp.iloc[0] == pytest.approx(TRUTH.a, abs=1e-6)
    lo, hi = kaplan_budget_range(TRUTH, shape)
    both = fit_exponent(TRUTH, lo, hi, shape, n=60).exponent
    assert exp["parameters and FLOPs (Pearce & Song)"] == pytest.approx(both, abs=1e-5)
    assert (
        exp["non-embedding parameters"]
        > both
        > TRUTH.a
        > exp["non-embedding FLOPs (no last layer)"]
    )
    assert table.loc["parameters and FLOPs (Pearce & Song)", "C from"] == pytest.approx(
        lo, rel=1e-6
    )
    with pytest.raises(ValueError, match="flops"):
        Procedure(flops="some")
    with pytest.raises(ValueError, match="penalty"):
        Schedule(penalty=-1)
    with pytest.raises(ValueError, match="n >= 2"):
        fit_procedure(TRUTH, shape, Procedure(), n=1)


def _runs_over_total(seed=0, vocab=32000, noise=0.002):
    rng = np.random.default_rng(seed)
    shape = Shape(vocab=vocab)
    n_e = np.repeat(np.geomspace(1e7, 3e9, 10), 8)
    tokens = n_e * np.tile(np.geomspace(5, 400, 8), 10)
    n_t = shape.total(n_e)
    loss = TRUTH.loss(n_t, tokens) + rng.normal(0, noise, n_e.size)
    return pd.DataFrame({"params": n_t, "params_nonembedding": n_e, "tokens": tokens, "loss": loss})


def test_with_count_and_the_convention_comparison():
    runs = _runs_over_total()
    nonemb = with_count(runs, "nonembedding")
    np.testing.assert_allclose(nonemb["budget"], 6 * runs["params_nonembedding"] * runs["tokens"])
    np.testing.assert_allclose(with_count(runs, "total")["params"], runs["params"])
    table = convention_comparison(runs, n_boot=30, seed=1)
    assert list(table.index) == ["nonembedding", "total"]
    total = table.loc["total"]
    assert total["a_lower"] <= TRUTH.a <= total["a_upper"]
    assert total["a"] == pytest.approx(TRUTH.a, abs=0.02)
    assert table.loc["nonembedding", "a"] > total["a"] + 0.02
    assert (table["a"] + table["b"]).to_numpy() == pytest.approx([1.0, 1.0])
    with pytest.raises(ValueError, match="columns"):
        with_count(runs.drop(columns="params_nonembedding"), "total")
    with pytest.raises(ValueError, match="count"):
        with_count(runs, "embedding")
