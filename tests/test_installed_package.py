"""The wheel, installed into a fresh virtual environment with its declared dependencies only.

The test environment has every book and test package, so importing the checkout here
proves nothing about what the package declares. These tests build the wheel, create a
new venv, ``pip install`` the wheel from the package registry (pip's cache may serve
it), and run the library and the command there, outside the checkout. They then add the
``book`` extra to the same venv and execute one chapter with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.install

ROOT = Path(__file__).resolve().parents[1]
MIRROR = ROOT.parent / "shared" / "data"
NOTEBOOK_LIBRARIES = ("matplotlib", "IPython", "ipywidgets")

#: Runs one ``scaling-lab`` command in-process, then reports which of the notebook
#: libraries it imported, as JSON on the last line of stdout.
PROBE = """
import json, sys
from scaling_lab.cli import main
code = main(sys.argv[1:])
loaded = [m for m in {libs!r} if m in sys.modules]
print(json.dumps({{"code": code, "loaded": loaded}}))
"""


def _run(argv, env, cwd, timeout=900):
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv[:4]} failed ({done.returncode}):\n{done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    """A new venv holding the wheel and its declared dependencies, nothing else."""
    tmp = tmp_path_factory.mktemp("clean-install")
    wheels = tmp / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("scaling_lab-*.whl")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {
        "PATH": f"{env_dir / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp),  # no user-level site, config or kernelspecs
        "PYTHONNOUSERSITE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONFIG_FILE"):
        if key in os.environ:
            env[key] = os.environ[key]
    if MIRROR.is_dir():
        env["SCALING_LAB_DATA"] = str(MIRROR)
    pip_cache = Path(os.environ.get("PIP_CACHE_DIR", Path.home() / ".cache" / "pip"))
    env["PIP_CACHE_DIR"] = str(pip_cache)
    _run([str(python), "-m", "pip", "install", "-q", str(wheel)], env, tmp)
    return {"python": str(python), "bin": env_dir / "bin", "env": env, "cwd": tmp, "wheel": wheel}


def _probe(fresh_venv, *args: str) -> dict:
    out = _run(
        [fresh_venv["python"], "-c", PROBE.format(libs=NOTEBOOK_LIBRARIES), *args],
        fresh_venv["env"],
        fresh_venv["cwd"],
    )
    return json.loads(out.strip().splitlines()[-1])


def test_the_venv_holds_only_declared_dependencies(fresh_venv):
    out = _run(
        [fresh_venv["python"], "-m", "pip", "list", "--format=json"],
        fresh_venv["env"],
        fresh_venv["cwd"],
    )
    installed = {p["name"].lower() for p in json.loads(out)}
    assert "scaling-lab" in installed or "scaling_lab" in installed
    assert not installed & {"ipython", "ipywidgets", "myst-nb", "pytest", "jupyter-book"}


def test_import_loads_no_notebook_library_and_runs_outside_the_checkout(fresh_venv):
    script = (
        "import json, pathlib, sys, scaling_lab as sl\n"
        "here = pathlib.Path(sl.__file__).resolve()\n"
        f"assert not here.is_relative_to(pathlib.Path({str(ROOT)!r})), here\n"
        "fit = sl.fit_vpnls(sl.sample_isoflops(sl.SURFACES['chinchilla']))\n"
        "assert abs(fit.alpha / 0.34 - 1) < 1e-10, fit.alpha\n"
        f"print(json.dumps([m for m in {NOTEBOOK_LIBRARIES!r} if m in sys.modules]))\n"
    )
    out = _run([fresh_venv["python"], "-c", script], fresh_venv["env"], fresh_venv["cwd"])
    assert json.loads(out.strip().splitlines()[-1]) == []


def test_console_script_help(fresh_venv):
    out = _run(
        [str(fresh_venv["bin"] / "scaling-lab"), "--help"], fresh_venv["env"], fresh_venv["cwd"]
    )
    assert "simulate" in out and "fit" in out and "families" in out


def test_commands_import_only_what_they_draw_with(fresh_venv):
    runs = str(fresh_venv["cwd"] / "runs.csv")
    simulate = _probe(fresh_venv, "simulate", "--noise", "0.005", "--seed", "1", "-o", runs)
    assert simulate == {"code": 0, "loaded": []}
    fit = _probe(fresh_venv, "fit", runs, "--bootstrap", "50", "--no-progress")
    assert fit == {"code": 0, "loaded": []}
    png = fresh_venv["cwd"] / "fit.png"
    plotted = _probe(
        fresh_venv, "fit", runs, "--bootstrap", "50", "--no-progress", "--plot", str(png)
    )
    assert plotted == {"code": 0, "loaded": ["matplotlib"]}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_families_report_runs_without_notebook_libraries(fresh_venv):
    out_dir = fresh_venv["cwd"] / "families"
    result = _probe(fresh_venv, "families", "--out", str(out_dir), "--n-boot", "50")
    # The report draws its figures with matplotlib, a core dependency; nothing else.
    assert result == {"code": 0, "loaded": ["matplotlib"]}
    assert (out_dir / "results.json").is_file() and any((out_dir / "figures").glob("*.png"))


@pytest.mark.skipif(not MIRROR.is_dir(), reason="needs the offline mirror ../shared/data")
def test_installed_package_reaches_its_data(fresh_venv):
    script = (
        "import scaling_lab.datasets as d\n"
        "print(len(d.load('llama3')), len(d.published_fits()), "
        "d.project_file('registry.csv').parent.name)\n"
    )
    out = _run([fresh_venv["python"], "-c", script], fresh_venv["env"], fresh_venv["cwd"])
    runs, fits, folder = out.split()
    assert (int(runs), folder) == (133, "data") and int(fits) >= 5


def test_book_extra_executes_a_chapter(fresh_venv):
    """``scaling_lab[book]`` alone is enough to execute a chapter (preliminaries)."""
    env, cwd = fresh_venv["env"], fresh_venv["cwd"]
    _run(
        [fresh_venv["python"], "-m", "pip", "install", "-q", f"{fresh_venv['wheel']}[book]"],
        env,
        cwd,
    )
    chapter = cwd / "preliminaries.md"
    chapter.write_text((ROOT / "book" / "preliminaries.md").read_text(encoding="utf-8"))
    # nbclient with the venv's own ipykernel, as myst-nb executes a chapter in the build.
    script = (
        "import sys, jupytext, nbclient, nbformat\n"
        "nb = jupytext.read(sys.argv[1])\n"
        "nb.cells.append(nbformat.v4.new_code_cell('import sys; print(sys.prefix)'))\n"
        "nbclient.NotebookClient(nb, kernel_name='python3', timeout=600).execute()\n"
        "nbformat.write(nb, sys.argv[2])\n"
    )
    jupyter = str(cwd / "jupyter")  # no kernelspec but the venv's own
    _run(
        [fresh_venv["python"], "-c", script, str(chapter), str(cwd / "preliminaries.ipynb")],
        {**env, "JUPYTER_PATH": jupyter, "JUPYTER_DATA_DIR": jupyter},
        cwd,
    )
    notebook = json.loads((cwd / "preliminaries.ipynb").read_text(encoding="utf-8"))
    outputs = [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert outputs and not [o for o in outputs if o["output_type"] == "error"]
    kernel_prefix = "".join(notebook["cells"][-1]["outputs"][0]["text"]).strip()
    assert Path(kernel_prefix) == Path(fresh_venv["python"]).parents[1]  # the venv's kernel
