"""Generate tests/data/vpnls_default_golden.json from the unmodified fit_vpnls.

Run once at commit caeaccf, before the robust and weighted options were added;
re-running it after a change to the default path would defeat its purpose.
"""

import json
import subprocess

import scaling_lab as sl

cases = []
for name in ("symmetric", "chinchilla", "asymmetric"):
    for grid in (2.0, 8.0, 32.0):
        for noise, seed in ((0.0, None), (0.01, 3), (0.03, 7)):
            for method in ("gauss-newton", "nelder-mead", "l-bfgs-b", "grid"):
                cases.append(dict(surface=name, grid=grid, noise=noise, seed=seed, method=method))
cases.append(
    dict(
        surface="asymmetric",
        grid=16.0,
        noise=0.0,
        seed=None,
        method="gauss-newton",
        center_scale=3.0,
        drift=3.0,
    )
)
out = []
for c in cases:
    df = sl.sample_isoflops(
        sl.SURFACES[c["surface"]],
        grid=c["grid"],
        noise=c["noise"],
        seed=c["seed"],
        center_scale=c.get("center_scale", 1.0),
        drift=c.get("drift", 1.0),
    )
    fit = sl.fit_vpnls(df, method=c["method"])
    vals = {k: float(getattr(fit, k)).hex() for k in ("E", "A", "B", "alpha", "beta", "rss")}
    out.append(
        {**c, **vals, "n_iter": fit.n_iter, "status": str(fit.status), "message": fit.message}
    )
commit = subprocess.check_output(["git", "rev-parse", "HEAD"], text=True).strip()
json.dump(
    {
        "generated_by": "fit_vpnls at commit " + commit + " (before the robust/weighted options)",
        "cases": out,
    },
    open("tests/data/vpnls_default_golden.json", "w"),
    indent=1,
)
print(len(out))
