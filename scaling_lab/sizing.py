"""Size a model for a loss target and an inference load, from a fit of your runs.

:func:`size_model` is the entry point behind ``scaling-lab size``. It fits the runs with
VPNLS and bootstraps the fit (:func:`scaling_lab.assess.assess`), then solves
:func:`scaling_lab.inference.inference_optimal` on the fitted surface and on every
bootstrap draw (one vectorised call), and prices the FLOPs with
:class:`scaling_lab.costs.GpuPricing`. The target is a loss, or a budget ``C`` standing
for the loss the compute-optimal model reaches at ``C`` (on each draw's own surface, so
that the target's uncertainty is carried too). Intervals are bootstrap percentiles
(Weibull positions, :data:`scaling_lab.assess.QUANTILE_RULE`). A draw on which the
target is not above its ``E`` needs an unbounded model: it counts as ``+inf`` for sizes,
FLOPs and dollars (an upper limit can be ``inf``) and is left out of ``D/N`` and the
saving, which have no limit there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .assess import DEFAULT_LEVEL, QUANTILE_RULE, Assessment, assess, key, surface_quantities
from .bootstrap import percentile_interval
from .costs import GpuPricing
from .inference import inference_result, solve_share
from .runs_io import Runs

#: The book's dollar assumptions (chapter "The cost of misallocation at frontier scale"):
#: H100 SXM dense BF16 peak, 40% MFU (Llama 3 405B reports 38-43%), $2.50 per GPU-hour.
DEFAULT_PRICING = GpuPricing(mfu=0.40, usd_per_gpu_hour=2.50)
#: Reported quantities, in report order, with their words.
QUANTITIES: dict[str, str] = {
    "N": "N (parameters)",
    "D": "D (training tokens)",
    "tokens_per_param": "D/N (tokens per parameter)",
    "training_flops": "training FLOPs (6ND)",
    "inference_flops": "inference FLOPs (2NT)",
    "total_flops": "total FLOPs",
    "training_usd": "training cost (USD)",
    "inference_usd": "inference cost (USD)",
    "total_usd": "total cost (USD)",
    "N_opt": "compute-optimal N* (same loss)",
    "D_opt": "compute-optimal D* (same loss)",
    "total_flops_opt": "compute-optimal total FLOPs",
    "saving_fraction": "saving vs compute-optimal",
}


#: Quantities that grow without bound as the target loss approaches E.
UNBOUNDED: tuple[str, ...] = (
    "N",
    "D",
    "training_flops",
    "inference_flops",
    "total_flops",
    "training_usd",
    "inference_usd",
    "total_usd",
    "N_opt",
    "D_opt",
    "total_flops_opt",
)


@dataclass(frozen=True, repr=False)
class Sizing:
    """Inference-optimal sizes for each inference-token count, with bootstrap intervals."""

    assessment: Assessment
    inference_tokens: tuple[float, ...]
    target_loss: float
    target_compute: float | None
    pricing: GpuPricing
    table: pd.DataFrame
    loss_interval: tuple[float, float]
    n_infeasible: int

    def to_frame(self) -> pd.DataFrame:
        """``inference_tokens, quantity, estimate, lower, upper``, one row per pair."""
        return self.table.copy()

    def wide(self) -> pd.DataFrame:
        """One row per ``T``: each quantity with its ``_lower`` and ``_upper`` columns."""
        t = self.table.pivot(index="inference_tokens", columns="quantity")
        out = pd.DataFrame(index=t.index)
        for name in QUANTITIES:
            out[name] = t[("estimate", name)]
            out[f"{name}_lower"] = t[("lower", name)]
            out[f"{name}_upper"] = t[("upper", name)]
        return out

    def report(self) -> str:
        """The plain-text report ``scaling-lab size`` prints."""
        a = self.assessment
        pct = f"{100 * a.level:g}%"
        p = self.pricing
        lo, hi = self.loss_interval
        if self.target_compute is None:
            target = f"target loss: {self.target_loss:.6g} (given)"
        else:
            target = (
                f"target loss: {self.target_loss:.6g} [{lo:.6g}, {hi:.6g}], the loss the "
                f"compute-optimal model reaches at C = {self.target_compute:.3g} FLOPs"
            )
        lines = [
            f"scaling-lab size: {a.runs.source}",
            f"runs: {a.runs.describe()}",
            f"fit: VPNLS; {pct} bootstrap percentile intervals over {a.n_boot} draws "
            f"(seed {a.seed}); failed refits: {a.n_failed}; draws that cannot reach the target: "
            f"{self.n_infeasible}",
            target,
            "lifetime compute: 6 N D (training) + 2 N T (inference on T tokens)",
            f"pricing: {p.gpu} at {p.peak_flops / 1e12:.0f} TFLOP/s peak, "
            f"{100 * p.mfu:.0f}% MFU, ${p.usd_per_gpu_hour:.2f} per GPU-hour",
        ]
        for t in self.inference_tokens:
            lines += [
                "",
                f"inference tokens T = {t:.3g}",
                f"  {'quantity':<32} {'estimate':>11}   {pct} interval",
            ]
            part = self.table[self.table["inference_tokens"] == t].set_index("quantity")
            for name, words in QUANTITIES.items():
                row = part.loc[name]
                scale, unit = (100.0, "%") if name == "saving_fraction" else (1.0, "")
                est, low, up = (scale * row[k] for k in ("estimate", "lower", "upper"))
                interval = "—" if not np.isfinite(low) else f"[{low:.4g}{unit}, {up:.4g}{unit}]"
                lines.append(f"  {words:<32} {f'{est:.4g}{unit}':>11}   {interval}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Sizing(target_loss={self.target_loss:.6g}, {len(self.inference_tokens)} loads T "
            f"from {min(self.inference_tokens):.3g} to {max(self.inference_tokens):.3g}, "
            f"draws={self.assessment.n_boot}, infeasible={self.n_infeasible})"
        )


def quantities(
    P: np.ndarray,
    target_loss: np.ndarray,
    inference_tokens: np.ndarray,
    pricing: GpuPricing,
) -> dict[str, np.ndarray]:
    """Every reported quantity for surfaces ``P`` (``(k, 5)``), losses ``(k,)`` and ``T``.

    Each value has shape ``(k, len(T))``.
    """
    P = np.atleast_2d(np.asarray(P, dtype=float))
    L = np.asarray(target_loss, dtype=float).reshape(-1, 1)
    T = np.asarray(inference_tokens, dtype=float).reshape(1, -1)
    sol = solve_share(*(P[:, i : i + 1] for i in range(5)), L, T)
    L, T = np.broadcast_arrays(L, T)
    r = inference_result(L, T, sol)
    usd = pricing.usd_per_gpu_hour / (pricing.peak_flops * pricing.mfu * 3600.0)
    out = {"N": r.N, "D": r.D, "tokens_per_param": r.tokens_per_param}
    for part in ("training", "inference", "total"):
        out[f"{part}_flops"] = getattr(r, f"{part}_flops")
    for part in ("training", "inference", "total"):
        out[f"{part}_usd"] = usd * out[f"{part}_flops"]
    out |= {"N_opt": r.N_opt, "D_opt": r.D_opt, "total_flops_opt": r.total_flops_opt}
    out["saving_fraction"] = r.saving_fraction
    return {k: np.atleast_2d(v) for k, v in out.items()}


def size_model(
    runs: pd.DataFrame | Runs,
    inference_tokens: Sequence[float] | float,
    *,
    target_loss: float | None = None,
    target_compute: float | None = None,
    n_boot: int = 1000,
    seed: int | None = 0,
    level: float = DEFAULT_LEVEL,
    pricing: GpuPricing = DEFAULT_PRICING,
    progress: bool = False,
    assessment: Assessment | None = None,
) -> Sizing:
    """Inference-optimal ``N, D``, FLOPs and dollars for each ``T``, with bootstrap intervals.

    Give exactly one of ``target_loss`` and ``target_compute``. ``assessment`` reuses a
    VPNLS :func:`~scaling_lab.assess.assess` result of the same runs. Raises
    ``ValueError`` on a bad target or token count.
    """
    if (target_loss is None) == (target_compute is None):
        raise ValueError("give exactly one of target_loss and target_compute")
    T = np.atleast_1d(np.asarray(inference_tokens, dtype=float))
    if T.ndim != 1 or T.size == 0 or np.any(~np.isfinite(T)) or np.any(T < 0):
        raise ValueError(f"inference tokens must be finite numbers >= 0, got {inference_tokens}")
    if target_compute is not None and not (np.isfinite(target_compute) and target_compute > 0):
        raise ValueError(f"target compute must be a positive number of FLOPs, got {target_compute}")
    if target_loss is not None and not np.isfinite(target_loss):
        raise ValueError(f"target loss must be a finite number, got {target_loss}")
    targets = (float(target_compute),) if target_compute is not None else (1e24,)
    if assessment is None or assessment.method != "vpnls":
        assessment = assess(
            runs,
            method="vpnls",
            n_boot=n_boot,
            seed=seed,
            targets=targets,
            level=level,
            progress=progress,
        )
    surface = assessment.surface
    names = ["E", "A", "B", "alpha", "beta"]
    P_hat = np.array([[surface.to_dict()[n] for n in names]])
    P = assessment.draws[names].to_numpy() if assessment.n_boot else np.empty((0, 5))
    if target_compute is not None:
        name = key("loss_opt", float(target_compute))
        L_hat = float(surface.loss_opt(target_compute))
        L_draws = surface_quantities(P, (float(target_compute),))[name]
    else:
        L_hat = float(target_loss)
        if not L_hat > surface.E:
            raise ValueError(
                f"{assessment.runs.source}: target loss {L_hat:.6g} is not above the fitted "
                f"irreducible loss "
                f"E = {surface.E:.6g}: no model reaches it"
            )
        L_draws = np.full(len(P), L_hat)
    est = quantities(P_hat, np.array([L_hat]), T, pricing)
    draws = quantities(P, L_draws, T, pricing) if len(P) else {}
    # Draws whose refit failed are NaN rows already (counted by the assessment); count
    # only the fitted draws on which no model reaches the target.
    fitted = np.all(np.isfinite(P), axis=1)
    unreachable = fitted & ~np.isfinite(draws["N"][:, 0]) if draws else np.zeros(0, bool)
    n_infeasible = int(np.sum(unreachable))
    # A draw on which the target is not above E needs an unbounded model: count its size,
    # tokens, FLOPs and dollars as +inf (so the upper limit becomes inf once such draws
    # pass the upper tail), not as missing, which would truncate the intervals.
    for name in UNBOUNDED:
        if draws:
            draws[name][unreachable] = np.inf
    rows = []
    for j, t in enumerate(T):
        for name in QUANTITIES:
            if draws and (~np.isnan(draws[name][:, j])).sum() >= 2:
                lo, hi = _interval(draws[name][:, j], level)
            else:
                lo = hi = np.nan
            rows.append(
                {
                    "inference_tokens": float(t),
                    "quantity": name,
                    "estimate": float(est[name][0, j]),
                    "lower": float(lo),
                    "upper": float(hi),
                }
            )
    if len(P) >= 2:
        loss_lo, loss_hi = percentile_interval(L_draws, level, method=QUANTILE_RULE)
    else:
        loss_lo = loss_hi = np.nan
    return Sizing(
        assessment=assessment,
        inference_tokens=tuple(float(t) for t in T),
        target_loss=L_hat,
        target_compute=None if target_compute is None else float(target_compute),
        pricing=pricing,
        table=pd.DataFrame(rows),
        loss_interval=(float(loss_lo), float(loss_hi)),
        n_infeasible=n_infeasible,
    )


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval in which ``+inf`` draws count as the largest values.

    A quantile that reads (or interpolates towards) an infinite draw is ``inf``.
    """
    finite = values[np.isfinite(values)]
    if not np.any(np.isposinf(values)):
        return percentile_interval(values, level, method=QUANTILE_RULE)
    top = finite.max() if finite.size else 0.0
    sentinel = max(1e300, 10.0 * abs(top))
    lo, hi = percentile_interval(
        np.where(np.isposinf(values), sentinel, values), level, method=QUANTILE_RULE
    )
    return (np.inf if lo > top else lo), (np.inf if hi > top else hi)
