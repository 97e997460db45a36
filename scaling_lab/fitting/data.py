"""Checks on an IsoFLOP table before any fit touches it.

Every fitter reads a DataFrame with columns ``budget, params, tokens, loss``. Bad
input is reported here, with the offending column, budget and row labels, rather
than surfacing later as a cryptic error from inside numpy or scipy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..sampling import ISOFLOP_COLUMNS


class FitError(RuntimeError):
    """A fit could not produce an estimate (for example a parabola with no minimum)."""


@dataclass(frozen=True)
class IsoflopData:
    """Validated IsoFLOP runs as float arrays, with the caller's row labels kept for messages."""

    budget: np.ndarray
    params: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray
    rows: np.ndarray

    @property
    def n(self) -> int:
        return self.loss.size

    def rows_where(self, mask: np.ndarray) -> str:
        return format_rows(self.rows[mask])


def format_rows(labels: np.ndarray, limit: int = 8) -> str:
    """Row labels for an error message, shortened past ``limit``."""
    shown = ", ".join(str(x) for x in labels[:limit])
    more = f", … ({labels.size - limit} more)" if labels.size > limit else ""
    return f"[{shown}{more}]"


def validate_isoflops(
    df: pd.DataFrame,
    *,
    min_points_per_budget: int = 1,
    min_budgets: int = 1,
    min_rows: int = 1,
    purpose: str = "this fit",
) -> IsoflopData:
    """Return the four columns as float arrays, or raise ``ValueError`` naming what is wrong."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(
            f"expected a pandas DataFrame with columns {', '.join(ISOFLOP_COLUMNS)}; "
            f"got {type(df).__name__}"
        )
    missing = [c for c in ISOFLOP_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"missing column(s) {', '.join(map(repr, missing))}: an IsoFLOP table needs "
            f"{', '.join(ISOFLOP_COLUMNS)}; found {list(map(str, df.columns))}"
        )
    rows = df.index.to_numpy()
    arrays = {}
    for col in ISOFLOP_COLUMNS:
        try:
            arrays[col] = df[col].to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column {col!r} must be numeric ({exc})") from None
    for col, values in arrays.items():
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(
                f"column {col!r} has NaN or infinite values in rows {format_rows(rows[bad])}"
            )
    for col, values in arrays.items():
        bad = values <= 0
        if bad.any():
            raise ValueError(
                f"column {col!r} must be positive; rows {format_rows(rows[bad])} "
                f"hold {format_rows(values[bad])}"
            )
    data = IsoflopData(rows=rows, **arrays)
    if data.n < min_rows:
        raise ValueError(f"{purpose} needs at least {min_rows} runs; got {data.n}")
    if min_points_per_budget > 1 or min_budgets > 1:
        _check_budgets(data, min_points_per_budget, min_budgets, purpose)
    return data


def _check_budgets(data: IsoflopData, min_points: int, min_budgets: int, purpose: str) -> None:
    budgets, counts = np.unique(data.budget, return_counts=True)
    if budgets.size < min_budgets:
        raise ValueError(
            f"{purpose} needs at least {min_budgets} distinct budgets; got {budgets.size} "
            f"({', '.join(f'{b:.3g}' for b in budgets)})"
        )
    for budget, count in zip(budgets, counts, strict=True):
        if count < min_points:
            raise ValueError(
                f"budget {budget:.3g} has {count} point(s) (rows "
                f"{data.rows_where(data.budget == budget)}); {purpose} needs at least "
                f"{min_points} per budget"
            )


GRADIENTS: tuple[str, ...] = ("analytic", "2-point", "3-point")


def check_option(name: str, value: object, choices: tuple) -> None:
    """Raise ``ValueError`` naming ``name`` and its choices when ``value`` is not one of them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
