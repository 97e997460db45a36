"""Reading a practitioner's CSV of training runs: validation, budgets and FLOP conventions.

A runs file has one row per training run with columns ``params``, ``tokens`` and
``loss`` and, optionally, ``budget`` (the run's compute in FLOPs); other columns are
ignored. Without ``budget``, runs are grouped into IsoFLOP budgets from ``6 N D``:
sorted by compute, a run joins the current group while its ``6 N D`` is within
:data:`GROUPING_TOLERANCE` of the group's smallest, and the group's budget is the
geometric mean of its members. With ``budget``, a run whose ``6 N D`` differs from its
budget by more than :data:`FLOP_TOLERANCE` gets a warning, because codebases count
FLOPs differently (``6 N D`` against counts that include attention or embeddings).

Every hard problem raises :class:`RunsError`, a ``ValueError`` whose message is one
line naming the source, the row and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: Runs whose ``6 N D`` lie within this relative distance of their group's smallest share a budget.
GROUPING_TOLERANCE = 0.10
#: Relative gap between ``6 N D`` and a stated budget above which a run gets a warning.
FLOP_TOLERANCE = 0.05
#: Fewest runs an IsoFLOP budget may hold (a parabola needs three).
MIN_RUNS_PER_BUDGET = 3
#: Fewest such budgets for an IsoFLOP analysis (Approach 2's curves, the design check, plan).
MIN_ISOFLOP_BUDGETS = 3
#: Columns a runs file must have, and the optional one.
REQUIRED_COLUMNS: tuple[str, ...] = ("params", "tokens", "loss")
OPTIONAL_COLUMNS: tuple[str, ...] = ("budget",)
#: Field separators a runs file may use (comma first; semicolon and tab as spreadsheets
#: in many locales write them).
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")


class RunsError(ValueError):
    """Bad runs input. The message is one line: source, row (when known) and problem."""

    def __init__(self, source: str, problem: str, row: str | None = None) -> None:
        where = f"{source}, {row}" if row else source
        super().__init__(f"{where}: {problem}".replace("\n", " "))
        self.source, self.problem, self.row = source, problem, row


@dataclass(frozen=True, repr=False)
class Runs:
    """Validated runs: ``budget, params, tokens, loss`` plus where they came from.

    ``labels`` names each run for messages (``"row 3 (line 4)"`` for a file);
    ``budget_given`` says whether budgets came from the input or from grouping
    ``6 N D``; ``warnings`` are one-line soft problems found while reading.
    """

    table: pd.DataFrame
    source: str
    labels: tuple[str, ...]
    budget_given: bool
    warnings: tuple[str, ...] = ()

    @property
    def budgets(self) -> np.ndarray:
        return np.unique(self.table["budget"].to_numpy())

    @property
    def n_runs(self) -> int:
        return len(self.table)

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def describe(self) -> str:
        """One line: how many runs and budgets, and where the budgets came from."""
        how = (
            "budgets from the budget column"
            if self.budget_given
            else f"budgets grouped from 6·params·tokens within {GROUPING_TOLERANCE:.0%}"
        )
        lo, hi = self.budgets.min(), self.budgets.max()
        return (
            f"{self.n_runs} runs on {self.budgets.size} budgets from {lo:.3g} to {hi:.3g} "
            f"FLOPs ({how})"
        )

    def __repr__(self) -> str:
        return f"Runs({self.source!r}: {self.describe()}; {len(self.warnings)} warning(s))"


def read_runs(
    path: str | Path,
    *,
    grouping_tolerance: float = GROUPING_TOLERANCE,
    flop_tolerance: float = FLOP_TOLERANCE,
) -> Runs:
    """Read and validate a runs CSV; raise :class:`RunsError` on any hard problem."""
    source = str(path)
    try:
        sep = sniff_delimiter(path)
        raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise RunsError(source, "the file is empty") from None
    except UnicodeDecodeError:
        raise RunsError(source, "cannot read the file: it is not UTF-8 text") from None
    except pd.errors.ParserError as exc:
        first = str(exc).strip().splitlines()[0]
        raise RunsError(source, f"not a valid CSV file ({first})") from None
    except OSError as exc:
        raise RunsError(source, f"cannot read the file ({exc.strerror or exc})") from None
    labels = tuple(f"row {i + 1} (line {i + 2})" for i in range(len(raw)))
    return _prepare(raw, source, labels, grouping_tolerance, flop_tolerance)


def sniff_delimiter(path: str | Path) -> str:
    """The field separator of a runs file: the one of :data:`DELIMITERS` that splits its
    header into the required columns (``","`` when none does, so that the missing-column
    error names what was found)."""
    with open(path, encoding="utf-8", newline="") as f:
        header = f.readline()
    for sep in DELIMITERS:
        names = {part.strip().strip('"').lower() for part in header.split(sep)}
        if set(REQUIRED_COLUMNS) <= names:
            return sep
    return ","


def prepare_runs(
    df: pd.DataFrame | Runs,
    source: str = "runs",
    *,
    grouping_tolerance: float = GROUPING_TOLERANCE,
    flop_tolerance: float = FLOP_TOLERANCE,
) -> Runs:
    """Validate an in-memory table of runs (rows are named by the DataFrame's index)."""
    if isinstance(df, Runs):
        return df
    if not isinstance(df, pd.DataFrame):
        raise RunsError(source, f"expected a pandas DataFrame, got {type(df).__name__}")
    labels = tuple(f"row {label}" for label in df.index)
    return _prepare(df, source, labels, grouping_tolerance, flop_tolerance)


def group_budgets(compute: np.ndarray, tolerance: float = GROUPING_TOLERANCE) -> np.ndarray:
    """IsoFLOP budget of each run from its compute: greedy groups of relative span ``tolerance``.

    Sorted by compute, a run starts a new group when it exceeds the current group's
    smallest compute by more than ``tolerance`` (relative); each run gets its group's
    geometric-mean compute. Deterministic, and exact when runs share a budget exactly.
    """
    compute = np.asarray(compute, dtype=float)
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be non-negative, got {tolerance!r}")
    order = np.argsort(compute, kind="stable")
    log_c = np.log(compute[order])
    group = np.empty(compute.size, dtype=int)
    start, g = 0, 0
    for k in range(compute.size):
        if log_c[k] - log_c[start] > np.log1p(tolerance):
            start, g = k, g + 1
        group[k] = g
    means = np.exp(np.bincount(group, log_c) / np.bincount(group))
    # Groups whose members share one compute value keep it exactly.
    for j in np.flatnonzero(np.bincount(group) > 0):
        members = compute[order][group == j]
        if np.all(members == members[0]):
            means[j] = members[0]
    out = np.empty(compute.size)
    out[order] = means[group]
    return out


def isoflop_budgets(runs: Runs) -> np.ndarray:
    """Budgets that hold an IsoFLOP curve: at least :data:`MIN_RUNS_PER_BUDGET` runs."""
    values, counts = np.unique(runs.table["budget"].to_numpy(), return_counts=True)
    return values[counts >= MIN_RUNS_PER_BUDGET]


def isoflop_gap(runs: Runs) -> str | None:
    """Why the runs do not support an IsoFLOP analysis (Approach 2's curves, the design
    check, ``plan``), or ``None`` when at least :data:`MIN_ISOFLOP_BUDGETS` budgets hold
    :data:`MIN_RUNS_PER_BUDGET` runs or more."""
    curves = isoflop_budgets(runs).size
    if curves >= MIN_ISOFLOP_BUDGETS:
        return None
    return (
        f"{curves} of the {runs.budgets.size} budgets hold at least {MIN_RUNS_PER_BUDGET} runs, "
        f"and IsoFLOP analysis needs {MIN_ISOFLOP_BUDGETS} such budgets (the runs are not an "
        "IsoFLOP grid; the surface fit does not need one)"
    )


def check_runs_for(runs: Runs, method: str) -> None:
    """Raise :class:`RunsError` when the runs cannot support ``method``'s fit.

    Surface fits (VPNLS, Approach 3) take any design. Approach 2 fits a parabola per
    budget, so every budget needs :data:`MIN_RUNS_PER_BUDGET` runs and there must be two
    budgets at least.
    """
    if method != "approach2":
        return
    budget = runs.table["budget"].to_numpy()
    values, counts = np.unique(budget, return_counts=True)
    for value, count in zip(values, counts, strict=True):
        if count < MIN_RUNS_PER_BUDGET:
            rows = [runs.labels[i] for i in np.flatnonzero(budget == value)]
            raise RunsError(
                runs.source,
                f"budget {value:.4g} FLOPs has {count} run(s) ({'; '.join(rows[:8])}); Approach 2 "
                f"needs at least {MIN_RUNS_PER_BUDGET} runs on each IsoFLOP budget (check the "
                f"budget column or the grouping tolerance of {GROUPING_TOLERANCE:.0%}, or fit "
                "the surface with --method vpnls, which takes any design)",
            )
    if values.size < 2:
        raise RunsError(
            runs.source,
            f"Approach 2 needs at least 2 budgets to fit a power law of the optima; all runs "
            f"share budget {values[0]:.4g} FLOPs",
        )


def _prepare(
    raw: pd.DataFrame,
    source: str,
    labels: tuple[str, ...],
    grouping_tolerance: float,
    flop_tolerance: float,
) -> Runs:
    raw = raw.rename(columns=lambda c: str(c).strip().lower())
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        found = ", ".join(map(str, raw.columns)) or "none"
        seps = [name for sep, name in _SEPARATOR_NAMES.items() if sep in found]
        hint = (
            f" (the header holds {' and '.join(seps)}: separate fields by commas)" if seps else ""
        )
        raise RunsError(
            source,
            f"missing column(s) {', '.join(missing)}; a runs file needs params, tokens, loss "
            f"(and optionally budget); found: {found}{hint}",
        )
    if len(raw) == 0:
        raise RunsError(source, "no runs: the file has a header but no data rows")
    columns = [c for c in (*OPTIONAL_COLUMNS, *REQUIRED_COLUMNS) if c in raw.columns]
    values = {c: _numeric_column(raw[c], c, source, labels) for c in columns}
    if np.ptp(values["loss"]) == 0:
        raise RunsError(
            source,
            f"every run has the same loss ({values['loss'][0]:g}); a scaling law needs losses "
            "that fall with model size and data",
        )
    budget_given = "budget" in values
    compute = 6.0 * values["params"] * values["tokens"]
    warnings: list[str] = []
    if budget_given:
        gap = compute / values["budget"] - 1.0
        off = np.flatnonzero(np.abs(gap) > flop_tolerance)
        if off.size:
            worst = off[np.argmax(np.abs(gap[off]))]
            warnings.append(
                f"{source}: {off.size} run(s) have 6·params·tokens more than "
                f"{flop_tolerance:.0%} away from their budget (worst {labels[worst]}: "
                f"{gap[worst]:+.1%}); codebases count FLOPs differently (6ND or with attention "
                "and embeddings), so say which convention the budget uses; the fit uses params "
                "and tokens, the budget only groups runs"
            )
        budget = values["budget"]
    else:
        budget = group_budgets(compute, grouping_tolerance)
    table = pd.DataFrame(
        {"budget": budget, "params": values["params"], "tokens": values["tokens"]}
        | {"loss": values["loss"]}
    )
    return Runs(table, source, labels, budget_given, tuple(warnings))


_SEPARATOR_NAMES = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def _numeric_column(col: pd.Series, name: str, source: str, labels: tuple[str, ...]) -> np.ndarray:
    """Float values of ``col``, or a :class:`RunsError` naming the first bad row."""
    if pd.api.types.is_numeric_dtype(col):
        numbers = col.to_numpy(dtype=float)
        empty = not_a_number = np.zeros(numbers.size, dtype=bool)
    else:
        text = col.astype("string").str.strip()
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        empty = (text.isna() | (text == "")).to_numpy(dtype=bool)
        said_nan = text.str.lower().isin(["nan", "-nan"]).to_numpy(dtype=bool)
        not_a_number = np.isnan(numbers) & ~empty & ~said_nan
    with np.errstate(invalid="ignore"):
        problems = (
            (empty, "is empty"),
            (not_a_number, "is not a number"),
            (np.isnan(numbers), "is NaN"),
            (np.isinf(numbers), "is infinite"),
            (numbers <= 0, "must be positive"),
        )
    for mask, what in problems:
        bad = np.flatnonzero(mask)
        if bad.size == 0:
            continue
        i = bad[0]
        if what == "is not a number":
            what += f" ({str(col.iloc[i]).strip()[:40]!r})"
        elif what == "must be positive":
            what += f", got {numbers[i]:g}"
        more = f" (and {bad.size - 1} more row(s))" if bad.size > 1 else ""
        raise RunsError(source, f"{name} {what}{more}", row=labels[i])
    return numbers
