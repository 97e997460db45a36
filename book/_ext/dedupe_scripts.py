"""Sphinx extension: drop repeated identical <script> entries from each page.

sphinx-thebe 0.3.1 (bundled by Jupyter Book 1) registers its inline configuration script
twice under Sphinx 7 (once with filename None, once with ""), so every page declares
``const THEBE_JS_URL`` twice and the browser logs "Identifier 'THEBE_JS_URL' has already
been declared". Keeping the first of each identical entry removes the error without
touching any other script.
"""

from __future__ import annotations


def _dedupe(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        # Inline scripts come with filename None or "" depending on who added them.
        filename = getattr(script, "filename", str(script)) or None
        key = (filename, tuple(sorted(attributes.items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
