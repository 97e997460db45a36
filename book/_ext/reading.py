"""Sphinx extension: pages that paint before their widgets load, and figures with alt text.

* myst-nb writes a page's widget state (every slider frame as an inline base64 PNG,
  about 1.4 MB on a slider page) as a ``<script>`` in ``<head>``, ahead of the text, so
  nothing painted until it had arrived. It moves to the end of the body instead; the
  widget manager reads the state only once the document has loaded, so it still finds it.
* A code cell whose code only stores values for the text (``glue(...)`` calls) shows no
  code: it is plumbing between the computation and the prose, not something to read.
* A figure's image without alt text, or whose alt text is only the file name (myst-nb
  names output images by a hash), takes the figure's caption as its alt text.
* Icons: pydata-sphinx-theme loads Font Awesome's whole SVG library as a 1.49 MB script
  (543 kB compressed) on every page, for the 16 icons its buttons use. The script is
  dropped; ``_static/icons.css`` draws exactly the icons the pages use, as CSS masks
  made from the same library's path data at build time.
* Figures: static figures are SVG (``scaling_lab.drawing.use_style``), each in a box
  that scrolls sideways on a phone, where the figure keeps a legible width. A PNG that
  still reaches the site is re-encoded with a 256-colour palette, as the slider frames
  are (``scaling_lab.book.widgets.figure_png``): the same look at about a third of the
  size. Every SVG, in the pages and in the downloadable notebooks, goes through
  ``compact_svg`` (rounded coordinates, no metadata, short ids): the same drawing at
  about half the size.
* The built site drops what no reader loads: the themes' source maps (``*.map``, 3.4 MB),
  their message catalogues (``_static/locales``, used at build time only),
  and output images no page shows (an incremental build leaves the previous run's). (Font
  Awesome's WOFF2 web fonts stay: the theme's stylesheet draws some glyphs with them;
  their TrueType copies, which no current browser asks for, go.) The downloadable
  executed notebooks (``_sources/**/*.ipynb``) keep every output (taken from the
  execution cache where myst-nb left them out; figures compacted as the pages' are) but not the
  saved widget state (each slider frame again as base64 PNG): in Jupyter the slider
  cells draw their frames when run.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import shutil
from pathlib import Path
from urllib.parse import quote

from docutils import nodes

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_FILE_NAME = re.compile(r"^[\w./-]*\.(png|jpe?g|svg|gif)$", re.I)


FONTAWESOME = "scripts/fontawesome.js"
ICONS_CSS = "icons.css"
#: The icon packs in Font Awesome's script, by the name each pack is registered under.
_PACKS = {
    "fa-brands": "fab",
    "fa-regular": "far",
    "fa-solid": "fas",
    "fab": "fab",
    "far": "far",
    "fas": "fas",
}
_FONTAWESOME_TAG = re.compile(
    r'[ \t]*<script defer src="[^"]*_static/scripts/fontawesome\.js[^"]*"></script>\n?'
)
_ICON_CLASS = re.compile(r'class="([^"]*\b(?:fa-solid|fa-brands|fa-regular|fas|fab|far)\b[^"]*)"')


def _pack_bodies(script: str) -> dict[str, str]:
    """Each pack's source text: it runs up to the call that registers it, d("fas",...)."""
    ends = {
        prefix: script.index(f'd("{prefix}",')
        for prefix in _PACKS.values()
        if f'd("{prefix}",' in script
    }
    bodies, start = {}, 0
    for prefix, end in sorted(ends.items(), key=lambda item: item[1]):
        bodies[prefix], start = script[start:end], end
    return bodies


def _icon(body: str, name: str) -> tuple[int, int, str] | None:
    match = re.search(
        r'[,{]"?' + re.escape(name) + r'"?:\[(\d+),(\d+),\[[^\]]*\],"[0-9a-f]*",'
        r'("[^"]*"|\[[^\]]*\])\]',
        body,
    )
    if match is None:
        return None
    width, height, path = match.groups()
    return int(width), int(height), " ".join(re.findall(r'"([^"]*)"', path))


def _write_icons(app, out: Path) -> None:
    used: set[tuple[str, str]] = set()
    for page in out.rglob("*.html"):
        text = page.read_text(errors="replace")
        # pydata-sphinx-theme writes this <script> from a template macro, not through
        # the page's script list, so it is taken out of the written page.
        dropped = _FONTAWESOME_TAG.sub("", text)
        if dropped != text:
            page.write_text(dropped)
        for classes in _ICON_CLASS.findall(dropped):
            names = classes.split()
            for pack in (p for p in _PACKS if p in names):
                used.update(
                    (pack, n[3:])
                    for n in names
                    if n.startswith("fa-")
                    and n not in (*_PACKS, "fa-lg", "fa-fw", "fa-xs", "fa-sm")
                )
    # The theme's own copy: the one in the output is deleted below, and an incremental
    # build does not copy it again.
    import pydata_sphinx_theme

    theme_static = Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme"
    script = (theme_static / "static" / FONTAWESOME).read_text()
    bodies = _pack_bodies(script)
    missing = []
    rules = [
        ",".join(f".{pack}::before" for pack in _PACKS) + "{content:'';"
        "display:inline-block;height:1em;vertical-align:-0.125em;"
        "background-color:currentColor;-webkit-mask:no-repeat center/contain;"
        "mask:no-repeat center/contain}",
        ".fa-lg{font-size:1.25em;line-height:0.05em;vertical-align:-0.075em}",
    ]
    for pack, name in sorted(used):
        icon = _icon(bodies.get(_PACKS[pack], ""), name)
        if icon is None:
            missing.append(f"{pack} fa-{name}")
            continue
        width, height, path = icon
        svg = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}">'
        svg += f'<path d="{path}"/></svg>'
        url = 'url("data:image/svg+xml,' + quote(svg) + '")'
        rules.append(
            f".{pack}.fa-{name}::before{{width:{width / height:.4f}em;"
            f"-webkit-mask-image:{url};mask-image:{url}}}"
        )
    if missing:
        from sphinx.util import logging

        logging.getLogger(__name__).warning(f"icons not in Font Awesome: {missing}")
    (out / "_static" / ICONS_CSS).write_text("\n".join(rules) + "\n")
    (out / "_static" / FONTAWESOME).unlink(missing_ok=True)  # no page loads it any more


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


def _scrollable_figures(app, doctree, docname) -> None:
    """Each output image in a box of its own, which on a phone scrolls sideways.

    On a narrow screen a figure keeps at least ``PHONE_MIN_WIDTH_PX`` (scaling-lab.css)
    so that its text stays legible; only this box scrolls, and the caption below it
    stays in place.
    """
    for image in list(doctree.findall(nodes.image)):
        parent = image.parent
        if "scaling-lab-figure-scroll" in parent.get("classes", []):
            continue
        box = nodes.container(classes=["scaling-lab-figure-scroll"])
        parent.replace(image, box)
        box += image


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
    _write_icons(app, out)
    _drop_unreferenced_images(out)
    _palette_images(out)
    _compact_svgs(out)
    for source_map in (out / "_static").rglob("*.map"):
        source_map.unlink()
    shutil.rmtree(out / "_static" / "locales", ignore_errors=True)
    # The theme's stylesheet lists each Font Awesome face as WOFF2 and then TrueType;
    # every browser the site supports takes the WOFF2, so the TrueType copies go.
    for font in (out / "_static" / "vendor").rglob("*.ttf"):
        font.unlink()
    for notebook in (out / "_sources").rglob("*.ipynb"):
        data = json.loads(notebook.read_text())
        changed = _fill_outputs_from_cache(app, data)
        changed = _palette_outputs(data) or changed
        changed = _compact_svg_outputs(data) or changed
        if data.get("metadata", {}).pop("widgets", None) is not None or changed:
            notebook.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n")


def _palette_images(out: Path) -> None:
    """Static figures re-encoded as 256-colour PNGs (about 65% smaller, same look)."""
    from scaling_lab.book.widgets import palette_png

    for image in (out / "_images").glob("*.png"):
        data = image.read_bytes()
        smaller = palette_png(data)
        if len(smaller) < len(data):
            image.write_bytes(smaller)


def _drop_unreferenced_images(out: Path) -> None:
    """Output images no page shows: an incremental build leaves the previous run's behind."""
    pages = "".join(page.read_text() for page in out.rglob("*.html"))
    for image in (out / "_images").iterdir():
        if image.is_file() and f"_images/{image.name}" not in pages:
            image.unlink()


def _compact_svgs(out: Path) -> None:
    """Static figures without what no reader sees (``compact_svg``: about half the size)."""
    from compact_svg import compact_svg

    for image in (out / "_images").rglob("*.svg"):
        text = image.read_text()
        smaller = compact_svg(text)
        if len(smaller) < len(text):
            image.write_text(smaller)


def _compact_svg_outputs(data: dict) -> bool:
    """The notebook's SVG outputs compacted as the site's, each one string; True if any."""
    from compact_svg import compact_svg

    changed = False
    for cell in data.get("cells", []):
        for output in cell.get("outputs", []):
            svg = output.get("data", {}).get("image/svg+xml")
            if not svg:
                continue
            text = "".join(svg) if isinstance(svg, list) else svg
            smaller = compact_svg(text)
            if smaller != svg:
                output["data"]["image/svg+xml"] = smaller
                changed = True
    return changed


def _palette_outputs(data: dict) -> bool:
    """The notebook's PNG outputs as 256-colour PNGs, like the site's; True if any."""
    from scaling_lab.book.widgets import palette_png

    changed = False
    for cell in data.get("cells", []):
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if not png:
                continue
            raw = base64.b64decode("".join(png) if isinstance(png, list) else png)
            smaller = palette_png(raw)
            if len(smaller) < len(raw):
                output["data"]["image/png"] = base64.b64encode(smaller).decode()
                changed = True
    return changed


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

    # Where myst-nb keeps the cache: the configured folder, else _build/.jupyter_cache.
    config = getattr(app.env, "mystnb_config", None)
    path = getattr(config, "execution_cache_path", "") or app.config.nb_execution_cache_path
    cache = get_cache(path or Path(app.outdir).parent.joinpath(".jupyter_cache").resolve())
    try:
        _, merged = cache.merge_match_into_notebook(nbformat.from_dict(data))
    except KeyError:  # not in the cache: leave the notebook as it is
        return False
    data.clear()
    data.update(json.loads(nbformat.writes(merged)))
    return True


def setup(app):
    app.connect("html-page-context", _state_to_end_of_body, priority=950)
    app.add_css_file(ICONS_CSS)
    app.connect("doctree-read", _hide_glue_only_code)
    app.connect("doctree-resolved", _caption_as_alt)
    app.connect("doctree-resolved", _scrollable_figures)
    app.connect("build-finished", _drop_unread_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
