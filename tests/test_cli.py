import subprocess
import sys

import scaling_lab as sl
from scaling_lab.cli import main


def test_fit_prints_each_method(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    sl.sample_isoflops(sl.SURFACES["chinchilla"]).to_csv(path, index=False)
    assert main(["fit", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["approach2", "vpnls", "approach3"]
    assert "alpha=0.34 " in out[1] and "status=converged" in out[1]


def test_bad_input_prints_one_line_and_exits_2(tmp_path):
    path = tmp_path / "runs.csv"
    df = sl.sample_isoflops(sl.SURFACES["chinchilla"]).drop(columns="loss")
    df.to_csv(path, index=False)
    for args in ([str(path)], [str(tmp_path / "missing.csv")]):
        result = subprocess.run(
            [sys.executable, "-m", "scaling_lab.cli", "fit", *args],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("scaling-lab: error: ")
        assert "Traceback" not in result.stderr
