"""Sphinx extension: pages that paint before their widgets load, and figures with alt text.

* myst-nb writes a page's widget state (every slider frame as an inline base64 PNG,
  about 1.4 MB on a slider page) as a ``<script>`` in ``<head>``, ahead of the text, so
  nothing painted until it had arrived. It moves to the end of the body instead; the
  widget manager reads the state only once the document has loaded, so it still finds it.
* A code cell whose code only stores values for the text (``glue(...)`` calls) shows no
  code: it is plumbing between the computation and the prose, not something to read.
* A figure's image without alt text, or whose alt text is only the file name (myst-nb
  names output images by a hash), takes the figure's caption as its alt text.
* The built site drops what no reader loads: the themes' source maps (``*.map``, 3.4 MB)
  and their message catalogues (``_static/locales``, used at build time only). The
  downloadable executed notebooks (``_sources/**/*.ipynb``) keep every output (taken from
  the execution cache where myst-nb left them out) but not the saved widget state (each
  slider frame again as base64 PNG): in Jupyter the slider cells draw their frames when
  run.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

from docutils import nodes

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_FILE_NAME = re.compile(r"^[\w./-]*\.(png|jpe?g|svg|gif)$", re.I)


def _state_to_end_of_body(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    kept, moved = [], []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        if attributes.get("type") == WIDGET_STATE and attributes.get("body"):
            moved.append(attributes["body"])
        else:
            kept.append(script)
    if not moved:
        return
    context["script_files"] = kept
    # The body is JSON already escaped for a <script> element by myst-nb.
    tags = "".join(f'<script type="{WIDGET_STATE}">{body}</script>' for body in moved)
    context["body"] = context.get("body", "") + tags


def _only_glue(code: str) -> bool:
    """True when every statement of ``code`` is a call of ``glue`` or ``<module>.glue``."""
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return False
    return bool(body) and all(
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and (
            (isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "glue")
            or (isinstance(stmt.value.func, ast.Attribute) and stmt.value.func.attr == "glue")
        )
        for stmt in body
    )


def _hide_glue_only_code(app, doctree) -> None:
    for source in list(doctree.findall(nodes.container)):
        if source.get("nb_element") != "cell_code_source":
            continue
        if _only_glue(source.astext()):
            cell = source.parent
            source.parent.remove(source)
            if not cell.children:  # nothing left to show: drop the empty cell
                cell.parent.remove(cell)


def _caption_as_alt(app, doctree, docname) -> None:
    for figure in doctree.findall(nodes.figure):
        caption = next(iter(figure.findall(nodes.caption)), None)
        if caption is None:
            continue
        text = " ".join(caption.astext().split())
        for image in figure.findall(nodes.image):
            alt = image.get("alt", "")
            if not alt or _FILE_NAME.match(alt) or alt == image.get("uri"):
                image["alt"] = text


def _drop_unread_files(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    for source_map in (out / "_static").rglob("*.map"):
        source_map.unlink()
    shutil.rmtree(out / "_static" / "locales", ignore_errors=True)
    for notebook in (out / "_sources").rglob("*.ipynb"):
        data = json.loads(notebook.read_text())
        changed = _fill_outputs_from_cache(app, data)
        if data.get("metadata", {}).pop("widgets", None) is not None or changed:
            notebook.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n")


def _fill_outputs_from_cache(app, data: dict) -> bool:
    """Put the cached outputs into a downloadable notebook that has none; True if done.

    myst-nb 1.4.0 writes the executed notebook that the download button serves from the
    notebook it read, and when the outputs come from the execution cache it merges them
    into a copy only, so a chapter that was not re-executed downloads without outputs.
    """
    code = [c for c in data.get("cells", []) if c.get("cell_type") == "code"]
    if not code or any(c.get("outputs") for c in code):
        return False
    if app.config.nb_execution_mode != "cache":
        return False
    import nbformat
    from jupyter_cache import get_cache

    cache = get_cache(app.config.nb_execution_cache_path or ".jupyter_cache")
    try:
        _, merged = cache.merge_match_into_notebook(nbformat.from_dict(data))
    except KeyError:  # not in the cache: leave the notebook as it is
        return False
    data.clear()
    data.update(json.loads(nbformat.writes(merged)))
    return True


def setup(app):
    app.connect("html-page-context", _state_to_end_of_body, priority=950)
    app.connect("doctree-read", _hide_glue_only_code)
    app.connect("doctree-resolved", _caption_as_alt)
    app.connect("build-finished", _drop_unread_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
