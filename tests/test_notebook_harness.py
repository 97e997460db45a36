"""The nbval harness must fail a chapter whose cell raises, and pass a sound one."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.nbval_myst import is_notebook_markdown

REPO = Path(__file__).resolve().parents[1]
HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

```{code-cell} ipython3
import scaling_lab as sl
x = sl.SURFACES["symmetric"].a
```
"""


def run_nbval(chapter: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "-p",
            "tests.nbval_myst",
            "-q",
            "--rootdir",
            str(chapter.parent),
            str(chapter),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("body", "expect_ok", "summary"),
    [
        ("```{code-cell} ipython3\nprint(x)\n```\n", True, "2 passed"),
        (
            "```{code-cell} ipython3\nassert x == 0.25, 'claim broken'\n```\n",
            False,
            "1 failed, 1 passed",
        ),
    ],
)
def test_harness_runs_each_cell_and_fails_on_error(tmp_path, body, expect_ok, summary):
    chapter = tmp_path / "chapter.md"
    chapter.write_text(HEADER + "\nSome prose.\n\n" + body)
    result = run_nbval(chapter)
    out = result.stdout + result.stderr
    assert (result.returncode == 0) is expect_ok, out
    assert summary in out, out
    if not expect_ok:
        assert "claim broken" in out


def test_only_jupytext_chapters_are_collected(tmp_path):
    plain = tmp_path / "plain.md"
    plain.write_text("# Just prose\n")
    assert not is_notebook_markdown(plain)
    assert is_notebook_markdown(REPO / "book" / "happy-path.md")
    assert not is_notebook_markdown(REPO / "book" / "how-to-run.md")
