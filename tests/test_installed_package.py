"""An installed wheel (not the checkout) reaches its data: registry, published tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MIRROR = ROOT.parent / "shared" / "data"

SCRIPT = """
import pathlib, scaling_lab, scaling_lab.datasets as d
here = pathlib.Path(scaling_lab.__file__).resolve()
assert not here.is_relative_to(pathlib.Path({root!r})), here
print(len(d.load("llama3")), len(d.published_fits()), d.project_file("registry.csv").parent.name)
"""


@pytest.mark.skipif(not MIRROR.is_dir(), reason="needs the offline mirror ../shared/data")
def test_wheel_installed_elsewhere_loads_datasets(tmp_path):
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("scaling_lab-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), wheel],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(root=str(ROOT))],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "SCALING_LAB_DATA": str(MIRROR), "PATH": "/usr/bin"},
        check=True,
        capture_output=True,
        text=True,
    )
    runs, fits, folder = out.stdout.split()
    assert (int(runs), folder) == (133, "data") and int(fits) >= 5
