"""Like-for-like recomputation of the earlier model-family analysis, one change at a time."""

import numpy as np
import pandas as pd
import pytest

from scaling_lab.families import ablation as ab
from scaling_lab.families import data

# The earlier report's published figures (Claw4S "scaling-laws", research note, Table 1
# and Sections 4.3 and 4.5): floor law on nominal counts, 4-smallest extrapolation MAPE
# of the loss, and the transfer MAPE over five benchmarks.
EARLIER_ALPHA, EARLIER_L_INF, EARLIER_LOSS_MAPE, EARLIER_TRANSFER_MAPE = 0.106, 0.113, 6.9, 12.7


def floor_data(alpha=0.1, l_inf=1.5, A=1.0, sizes=None):
    N = np.geomspace(1e8, 1.3e10, 7) if sizes is None else sizes
    return N, l_inf + A * (N / 1e9) ** -alpha


def test_noise_free_extrapolation_is_exact():
    N, y = floor_data(l_inf=0.0)
    assert ab.extrapolation_mape(N, y, form="power", origins=(4, 5), metric="log") < 1e-8
    assert ab.extrapolation_mape(N, y, form="power", origins=(4,), metric="ape") < 1e-8


def test_extrapolation_metric_is_checked():
    N, y = floor_data()
    with pytest.raises(ValueError, match="metric"):
        ab.extrapolation_mape(N, y, metric="mse")


def test_dropping_draws_at_the_floor_bound_keeps_fewer_draws_and_raises_the_lower_end():
    rng = np.random.default_rng(3)
    N, y = floor_data(l_inf=0.05, A=2.0)
    y = y + 0.01 * rng.standard_normal(y.size)
    kept = ab.fixed_scale_bootstrap(N, y, n_boot=400, seed=1, drop_at_bound=True)
    every = ab.fixed_scale_bootstrap(N, y, n_boot=400, seed=1, drop_at_bound=False)
    assert every.kept == 400 and 0 < kept.kept < 400
    assert kept.lower >= every.lower
    assert kept.lower <= kept.alpha <= kept.upper


def synthetic_families(alpha=0.08, A=0.6):
    """Cerebras-like and Pythia-like frames whose accuracies follow one bounded power law."""
    frames = []
    for N, tokens in ((np.geomspace(1e8, 1.3e10, 7), 20.0), (np.geomspace(7e7, 1.2e10, 8), 3e11)):
        df = pd.DataFrame({"model": [f"m{i}" for i in range(N.size)], "N_nominal": N,
                           "N_total": N, "N_nonembedding": N, "loss": 2.0})  # fmt: skip
        df["tokens"] = tokens * N if tokens == 20.0 else tokens
        for name in data.PYTHIA_TASKS:
            df[name] = 1 - A * (N / 1e9) ** -alpha
        frames.append(df)
    return frames


def test_transfer_of_an_exact_law_has_no_error():
    cb, py = synthetic_families()
    for choice in (ab.EARLIER_TRANSFER, ab.EARLIER_TRANSFER.changed(weighted=True)):
        assert ab.transfer_mape(choice, cb, py) < 1e-6


def test_transfer_choices_are_checked():
    cb, py = synthetic_families()
    with pytest.raises(ValueError, match="counts"):
        ab.transfer_mape(ab.EARLIER_TRANSFER.changed(counts="exact"), cb, py)
    with pytest.raises(ValueError, match="law"):
        ab.transfer_mape(ab.EARLIER_TRANSFER.changed(law="sigmoid"), cb, py)


@pytest.fixture(scope="module")
def loss_table():
    return ab.loss_ablation(n_boot=500, seed=0)


def test_earlier_loss_numbers_are_reproduced_like_for_like(loss_table):
    alpha = loss_table.loc["alpha"].iloc[0]
    assert round(alpha["value"], 3) == EARLIER_ALPHA
    assert (
        round(loss_table.loc[("L_inf", "floor law, nominal counts"), "value"], 3) == EARLIER_L_INF
    )
    ext = loss_table.loc["extrapolation error (%)"]["value"]
    assert round(ext.iloc[0], 1) == EARLIER_LOSS_MAPE
    assert ext.iloc[-1] < EARLIER_LOSS_MAPE / 5  # this chapter's protocol


def test_earlier_transfer_number_is_reproduced_like_for_like():
    assert round(ab.transfer_mape(ab.EARLIER_TRANSFER), 1) == EARLIER_TRANSFER_MAPE
