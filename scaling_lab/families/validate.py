"""Check a results folder written by ``scaling-lab families --out DIR``.

The invariants: every section is present (in ``results.json`` and as a heading of
``report.md``); every interval contains its estimate, or is ``None``, or carries a flag
saying why; every fit converged or is flagged; every figure exists. Each broken
invariant is one line of the returned list.
"""

from __future__ import annotations

import json
from pathlib import Path

from .analysis import SECTIONS

HEADINGS = {s: s.replace("_", " ").title().replace("Cross Metric", "Cross-Metric").replace(
    "Cross Family", "Cross-Family") for s in SECTIONS}  # fmt: skip
FIGURES = (
    "loss_scaling",
    "task_scaling",
    "residuals",
    "model_selection",
    "extrapolation",
    "transfer",
)
INTERVAL_KEYS = {"estimate", "interval", "method", "flag"}


def _walk(obj, path: str):
    yield path, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}[{i}]")


def check_results(results: dict) -> list[str]:
    """Problems in a results dictionary (empty when every invariant holds)."""
    problems = []
    if not isinstance(results, dict):
        return ["results.json: top level is not an object"]
    for s in SECTIONS:
        if not results.get(s):
            problems.append(f"results.json: section {s!r} missing or empty")
    for path, node in _walk(results, ""):
        if not isinstance(node, dict):
            continue
        if INTERVAL_KEYS <= node.keys():
            problems += _check_interval(path, node)
        if "converged" in node and node["converged"] is not True and not node.get("flag"):
            problems.append(f"{path}: fit did not converge and carries no flag")
    return problems


def _check_interval(path: str, node: dict) -> list[str]:
    est, iv, flag = node["estimate"], node["interval"], node.get("flag")
    if iv is None:
        return [] if flag else [f"{path}: interval is missing and no reason is given"]
    if not (isinstance(iv, list) and len(iv) == 2 and all(isinstance(v, int | float) for v in iv)):
        return [f"{path}: interval must be [low, high], got {iv!r}"]
    lo, hi = iv
    if lo > hi:
        return [f"{path}: interval [{lo}, {hi}] has low > high"]
    if not isinstance(est, int | float):
        return [f"{path}: estimate {est!r} is not a number"]
    if not lo <= est <= hi and not flag:
        return [f"{path}: interval [{lo:.6g}, {hi:.6g}] excludes its estimate {est:.6g} (no flag)"]
    return []


def validate(out_dir: str | Path) -> list[str]:
    """Every broken invariant of the folder ``out_dir``, one message each."""
    out = Path(out_dir)
    if not out.is_dir():
        return [f"{out}: no such folder"]
    problems = []
    path = out / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"{path}: missing"]
    except json.JSONDecodeError as exc:
        return [f"{path}: not valid JSON ({exc})"]
    problems += check_results(results)
    report = out / "report.md"
    if not report.is_file():
        problems.append(f"{report}: missing")
    else:
        text = report.read_text(encoding="utf-8")
        for s, heading in HEADINGS.items():
            if f"## {heading}" not in text:
                problems.append(f"{report}: section heading '## {heading}' missing ({s})")
    for name in FIGURES:
        if not (out / "figures" / f"{name}.png").is_file():
            problems.append(f"{out / 'figures' / (name + '.png')}: figure missing")
    return problems
