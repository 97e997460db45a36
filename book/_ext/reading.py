"""Sphinx extension: pages that paint before their widgets load, and figures with alt text.

* myst-nb writes a page's widget state (every slider frame as an inline base64 PNG,
  about 1.4 MB on a slider page) as a ``<script>`` in ``<head>``, ahead of the text, so
  nothing painted until it had arrived. It moves to the end of the body instead; the
  widget manager reads the state only once the document has loaded, so it still finds it.
* A figure's image without alt text, or whose alt text is only the file name (myst-nb
  names output images by a hash), takes the figure's caption as its alt text.
"""

from __future__ import annotations

import re

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


def setup(app):
    app.connect("html-page-context", _state_to_end_of_body, priority=950)
    app.connect("doctree-resolved", _caption_as_alt)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
