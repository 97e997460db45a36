"""The families command: results folder, validation, determinism, speed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest

from scaling_lab.families import cli, validate
from scaling_lab.families.analysis import SECTIONS, run_analysis
from scaling_lab.families.report import results_json


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("families") / "run"
    # CPU time of this process: the machine is shared, so wall time measures the neighbours
    start = time.process_time()
    assert cli.main(["--out", str(out), "--n-boot", "1000", "--seed", "0"]) == 0
    return out, time.process_time() - start


def test_run_writes_a_valid_folder(run_dir, capsys):
    out, seconds = run_dir
    assert validate(out) == []
    assert cli.main(["validate", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert all(results[s] for s in SECTIONS)
    assert results["meta"]["n_boot"] == 1000
    assert seconds < 20, f"analysis took {seconds:.1f} s of CPU (budget 20 s)"


def test_two_seeded_runs_give_identical_results(run_dir):
    out, _ = run_dir
    again = results_json(run_analysis(n_boot=1000, seed=0).results)
    assert again.encode() == (out / "results.json").read_bytes()
    other = results_json(run_analysis(n_boot=1000, seed=1).results)
    assert other != again


def _copy(out, tmp_path):
    dst = tmp_path / "doctored"
    shutil.copytree(out, dst)
    return dst, json.loads((dst / "results.json").read_text())


def test_validate_rejects_interval_excluding_estimate(run_dir, tmp_path, capsys):
    dst, res = _copy(run_dir[0], tmp_path)
    iv = res["loss_scaling"]["fits"]["power"]["intervals"]["alpha"]
    iv["interval"] = [iv["estimate"] + 0.01, iv["estimate"] + 0.02]
    iv["flag"] = None
    (dst / "results.json").write_text(json.dumps(res))
    problems = validate(dst)
    assert len(problems) == 1 and "excludes its estimate" in problems[0]
    assert "loss_scaling.fits.power.intervals.alpha" in problems[0]
    assert cli.main(["validate", str(dst)]) == 1
    assert "excludes its estimate" in capsys.readouterr().out


def test_validate_accepts_flagged_interval_and_rejects_unflagged_none(run_dir, tmp_path):
    dst, res = _copy(run_dir[0], tmp_path)
    iv = res["loss_scaling"]["fits"]["floor"]["intervals"]["alpha"]
    iv["interval"] = [iv["estimate"] + 0.01, iv["estimate"] + 0.02]
    iv["flag"] = "skewed bootstrap distribution"
    (dst / "results.json").write_text(json.dumps(res))
    assert validate(dst) == []
    iv["interval"], iv["flag"] = None, None
    (dst / "results.json").write_text(json.dumps(res))
    assert any("no reason" in p for p in validate(dst))


@pytest.mark.parametrize("section", SECTIONS)
def test_validate_rejects_missing_section(run_dir, tmp_path, section):
    dst, res = _copy(run_dir[0], tmp_path)
    del res[section]
    (dst / "results.json").write_text(json.dumps(res))
    assert any(section in p and "missing" in p for p in validate(dst))


def test_validate_rejects_missing_heading_and_unflagged_nonconvergence(run_dir, tmp_path):
    dst, res = _copy(run_dir[0], tmp_path)
    text = (dst / "report.md").read_text().replace("## Task Scaling", "## Tasks")
    (dst / "report.md").write_text(text)
    res["task_scaling"]["cerebras"]["piqa"]["sigmoid"].update(converged=False, flag=None)
    (dst / "results.json").write_text(json.dumps(res))
    problems = validate(dst)
    assert any("## Task Scaling" in p for p in problems)
    assert any("piqa.sigmoid" in p and "did not converge" in p for p in problems)


def test_validate_missing_folder_and_bad_json(tmp_path):
    assert "no such folder" in validate(tmp_path / "nope")[0]
    (tmp_path / "results.json").write_text("{")
    assert "not valid JSON" in validate(tmp_path)[0]


def test_module_entry_point_prints_one_line_per_problem(run_dir, tmp_path):
    dst, res = _copy(run_dir[0], tmp_path)
    del res["limitations"]
    (dst / "figures" / "transfer.png").unlink()
    (dst / "results.json").write_text(json.dumps(res))
    r = subprocess.run([sys.executable, "-m", "scaling_lab.families", "validate", str(dst)],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 1
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in r.stderr


def test_register_adds_subcommand():
    import argparse

    parser = argparse.ArgumentParser(prog="scaling-lab")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.register(sub)
    args = parser.parse_args(["families", "validate", "somewhere"])
    assert args.command == "families" and args.target == "validate" and args.dir == "somewhere"
    args = parser.parse_args(["families", "--out", "x", "--n-boot", "10"])
    assert args.out == "x" and args.n_boot == 10 and args.handler is not None


def test_bad_arguments_exit_2(capsys):
    assert cli.main([]) == 2
    assert cli.main(["--out", "x", "--n-boot", "0"]) == 2
    assert "n-boot" in capsys.readouterr().err
