"""pytest plugin: let nbval collect the book's Jupytext MyST-markdown chapters.

nbval collects ``.ipynb`` files only. With ``--nbval`` or ``--nbval-lax``, this plugin
also collects every ``.md`` file whose front matter declares a Jupytext kernelspec, reads
it with Jupytext, and hands it to nbval: one test per code cell, all cells in one kernel,
so a failing cell fails the run. The chapters store no outputs, so they always run with
lax semantics (a cell must execute; it compares outputs only if it opts in with
``# NBVAL_CHECK_OUTPUT``). The kernel is the interpreter running pytest, so the chapters
see the same installed ``scaling_lab``.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbval.plugin as nbval_plugin
import pytest


def is_notebook_markdown(path: Path) -> bool:
    """True for a ``.md`` file with a Jupytext front matter and a kernelspec."""
    if path.suffix != ".md":
        return False
    head = path.read_text(encoding="utf-8")[:2000]
    return head.startswith("---") and "jupytext:" in head and "kernelspec:" in head


class _JupytextReader:
    """Stands in for the ``nbformat`` module while nbval reads a chapter."""

    @staticmethod
    def read(path: str, as_version: int = 4):
        return jupytext.read(path)


class MystNotebookFile(nbval_plugin.IPyNbFile):
    """An nbval notebook read from Jupytext MyST markdown, validated with lax semantics."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.compare_outputs = False

    def collect(self):
        original = nbval_plugin.nbformat
        nbval_plugin.nbformat = _JupytextReader
        try:
            items = list(super().collect())
        finally:
            nbval_plugin.nbformat = original
        yield from items


def pytest_configure(config: pytest.Config) -> None:
    opt = config.option
    if getattr(opt, "nbval", False) or getattr(opt, "nbval_lax", False):
        if not opt.nbval_kernel_name:
            opt.nbval_current_env = True


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and is_notebook_markdown(file_path):
        return MystNotebookFile.from_parent(parent, path=file_path)
    return None
