"""Write a results folder: ``results.json``, ``report.md`` and ``figures/*.png``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from . import data
from .analysis import FamiliesAnalysis
from .validate import HEADINGS


def _iv(d: dict, fmt: str = ".3g") -> str:
    if d["interval"] is None:
        return f"{d['estimate']:{fmt}} (not identified: {d['flag']})"
    lo, hi = d["interval"]
    note = f"; {d['flag']}" if d.get("flag") else ""
    return f"{d['estimate']:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]{note}"


def results_json(results: dict) -> str:
    """Canonical JSON text: sorted keys, no NaN, so equal results give equal bytes."""
    return json.dumps(results, indent=2, sort_keys=True, allow_nan=False) + "\n"


def markdown(res: dict) -> str:
    """The report's text, built from the results dictionary alone."""
    ls, ts = res["loss_scaling"], res["task_scaling"]
    cm, ex, tr = (
        res["cross_metric_correlation"],
        res["extrapolation_risk"],
        res["cross_family_transfer"],
    )
    pw, fl = ls["fits"]["power"], ls["fits"]["floor"]
    ms = ls["model_selection"]
    h = HEADINGS
    lines = [
        "# Scaling laws on published model families (Cerebras-GPT, Pythia)",
        "",
        f"Seed {res['meta']['seed']}, {res['meta']['n_boot']} bootstrap draws per interval.",
        "",
        f"## {h['loss_scaling']}",
        "",
        "![loss scaling](figures/loss_scaling.png)",
        "",
        f"- Power law (Kaplan form), exact total N: alpha = {_iv(pw['intervals']['alpha'])}; "
        f"profile likelihood {_iv(pw['intervals']['alpha (profile)'])}.",
        f"- Power law with floor: alpha = {_iv(fl['intervals']['alpha'])}; "
        f"L_inf = {_iv(fl['intervals']['L_inf'])}; "
        f"{100 * fl['share_at_bound']:.1f}% of bootstrap draws at a bound (all kept).",
        "- Exponent by parameter count (power law): "
        + "; ".join(f"{c}: {_iv(v['power'])}" for c, v in ls["counts"].items())
        + f" (spread {ls['alpha_spread_between_counts_pct']:.3g}%).",
        f"- AICc power {ms['aicc']['power']:.3g}, floor {ms['aicc']['floor']:.3g}; BIC power "
        f"{ms['bic']['power']:.3g}, floor {ms['bic']['floor']:.3g}. F test of the floor: "
        f"p = {ms['floor_vs_power_p']:.3g}. With n = 7 these rank fits inside the observed "
        "range only; they say nothing about extrapolation.",
        f"- Chinchilla form: {ls['chinchilla']['reason']}. {ms['chinchilla_note']}.",
        "",
        "![residuals](figures/residuals.png)",
        "",
        "![model selection](figures/model_selection.png)",
        "",
        f"## {h['task_scaling']}",
        "",
        "![task scaling](figures/task_scaling.png)",
        "",
        "| benchmark | sigmoid chi2 (p) | power chi2 (p) | breakpoint p | breakpoint? | note |",
        "|---|---|---|---|---|---|",
    ]
    for name, t in ts["cerebras"].items():
        s, p, b = t["sigmoid"], t["power"], t["breakpoint"]
        lines.append(
            f"| {data.BENCHMARKS[name].label} | {s['chi2']:.3g} ({s['p_value']:.2g}) | "
            f"{p['chi2']:.3g} ({p['p_value']:.2g}) | {b['p_value']:.2g} | "
            f"{'yes' if t['breakpoint_supported'] else 'no'} | {s['flag'] or ''} |"
        )
    lines += [
        "",
        f"{ts['n_smooth_consistent']} of {ts['n_benchmarks']} benchmarks are consistent with a "
        f"smooth law within binomial noise; a breakpoint is supported on "
        f"{ts['n_breakpoints_supported']} ({ts['breakpoint_test']}), but on "
        f"{ts['n_breakpoints_where_smooth_law_fits']} of those a smooth law already fits: "
        "the kink there is curvature in log N, not a break.",
        "",
        f"## {h['cross_metric_correlation']}",
        "",
        f"- Loss decrease vs mean accuracy gain over {cm['mean_over_benchmarks']['n']} steps: "
        f"r = {_iv(cm['mean_over_benchmarks'])}, p = {cm['mean_over_benchmarks']['p_value']:.2g}.",
        f"- With {cm['mean_over_benchmarks']['n']} pairs, |r| must exceed "
        f"{cm['critical_r']:.3g} to be significant at 5%, and a true |r| of "
        f"{cm['detectable_r_80pct_power']:.3g} is detected with 80% power; detecting r = 0.3 "
        f"needs {cm['pairs_needed_for_r_0.3']} pairs.",
        "",
        f"## {h['extrapolation_risk']}",
        "",
        "![extrapolation](figures/extrapolation.png)",
        "",
        f"- Loss (power law): mean |log-loss error| {ex['loss_power_mean_abs_log_error_pct']:.3g}% "
        f"(MAPE {ex['loss_power_mape_pct']:.3g}%) over {ex['held_out_predictions']['loss']} "
        "held-out predictions.",
        f"- Tasks (sigmoids): mean |error| {ex['tasks_mean_abs_error_headroom_pct']:.3g}% of the "
        f"chance-to-perfect range (median {ex['tasks_median_abs_error_headroom_pct']:.3g}%; MAPE "
        f"{ex['tasks_mape_pct']:.3g}%) over {ex['held_out_predictions']['tasks']} predictions.",
        "",
        f"## {h['cross_family_transfer']}",
        "",
        "![transfer](figures/transfer.png)",
        "",
        "| scaling variable | MAPE (%) | mean abs error (% of range) | within 2 SE |",
        "|---|---|---|---|",
    ]
    for v, t in tr["variants"].items():
        lines.append(
            f"| {v} | {t['mape_pct']:.3g} | {t['mean_abs_error_headroom_pct']:.3g} | "
            f"{100 * t['share_within_2se']:.0f}% |"
        )
    arc = tr["arc_challenge_mape_by_pythia_metric"]
    lines += [
        "",
        f"ARC-Challenge MAPE (size N): {arc['acc']:.3g}% against Pythia raw acc (the metric "
        f"Cerebras-GPT reports), {arc['acc_norm']:.3g}% against acc_norm (mixed metrics).",
        "",
        f"## {h['methodology']}",
        "",
        *[f"- {s}" for s in res["methodology"]["steps"]],
        "",
        f"## {h['limitations']}",
        "",
        *[f"- {s}" for s in res["limitations"]["items"]],
        "",
        "## Comparison with the earlier analysis",
        "",
        "| claim | earlier | ours |",
        "|---|---|---|",
    ]
    for row in res["earlier_report"]["comparison"]:
        ours = row["ours"]
        if isinstance(ours, dict) and "estimate" in ours:
            ours = _iv(ours)
        elif isinstance(ours, dict):
            ours = "; ".join(f"{k}: {v:.3g}" for k, v in ours.items())
        lines.append(f"| {row['claim']} | {row['earlier']} | {ours} |")
    return "\n".join(lines) + "\n"


def write_report(
    an: FamiliesAnalysis, out_dir: str | Path, progress: Callable[[str], None] | None = None
) -> Path:
    """Write ``results.json``, ``report.md`` and the figures into ``out_dir``."""
    import matplotlib
    import matplotlib.pyplot as plt

    from . import figures

    say = progress or (lambda _msg: None)
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(results_json(an.results), encoding="utf-8")
    (out / "report.md").write_text(markdown(an.results), encoding="utf-8")
    with matplotlib.rc_context({"backend": "Agg"}):
        for i, (name, make) in enumerate(figures.ALL.items(), 1):
            say(f"      figure {i}/{len(figures.ALL)}: {name}")
            fig = make(an)
            fig.savefig(out / "figures" / f"{name}.png", dpi=100, metadata={"Software": None})
            plt.close(fig)
    return out
