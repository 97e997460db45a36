"""Smaller SVG figures that draw the same: matplotlib's SVG without what no reader sees.

matplotlib writes every coordinate with six decimals, a metadata block, an id and a
``style`` on every element, the whole sans-serif fallback list on every label, and an
identity ``rotate(-0 x y)`` on most of them. The site carries each figure twice (the
page's image and the downloadable notebook's output), so this is most of its weight.
:func:`compact_svg` keeps the drawing and its text as they are and drops the rest:

* the XML prolog and ``<metadata>``;
* attribute numbers rounded to 0.01 of a point (a hundredth of a pixel at 1x);
* whitespace between tags and inside path data;
* ids nothing refers to, and short names for the ones something does;
* consecutive markers (``<use>``) of one style in one group carrying that style;
* identity rotations, and the font fallback list after DejaVu Sans (then ``sans-serif``);
* groups left without attributes.

Text content is never touched: numbers are rounded inside attribute values only.
"""

from __future__ import annotations

import re

_PROLOG = re.compile(r"^\s*<\?xml[^>]*>\s*(?:<!DOCTYPE[^>]*>\s*)?", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_PATH_DATA = re.compile(r'(\sd=")([^"]*)"')
_ATTRIBUTE = re.compile(r'="[^"]*"')
_DECIMAL = re.compile(r"-?\d+\.\d+")
_BETWEEN_TAGS = re.compile(r">\s+<")
_USE = re.compile(r'<use xlink:href="(#[^"]+)" x="([^"]+)" y="([^"]+)" style="([^"]+)"/>')
_USE_RUN = re.compile(rf"(?:{_USE.pattern})+")
_ID = re.compile(r'\sid="([^"]+)"')
_REFERENCE = re.compile(r'#([^")\s;]+)')
_IDENTITY_ROTATION = re.compile(r' transform="rotate\(-?0 [^)]*\)"')
_FALLBACKS = re.compile(r"font-family: 'DejaVu Sans'(?:, '[^']+')*, sans-serif")
_GROUP_TAG = re.compile(r"<(/?)g(\s[^>]*)?>")


def _rounded(match: re.Match) -> str:
    text = f"{float(match.group()):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _grouped_markers(match: re.Match) -> str:
    uses = _USE.findall(match.group())
    out, start = [], 0
    while start < len(uses):
        end = start
        while end < len(uses) and uses[end][3] == uses[start][3]:
            end += 1
        if end - start == 1:
            href, x, y, style = uses[start]
            out.append(f'<use xlink:href="{href}" x="{x}" y="{y}" style="{style}"/>')
        else:
            body = "".join(
                f'<use xlink:href="{h}" x="{x}" y="{y}"/>' for h, x, y, _ in uses[start:end]
            )
            out.append(f'<g style="{uses[start][3]}">{body}</g>')
        start = end
    return "".join(out)


def _short_ids(svg: str) -> str:
    referenced = set(_REFERENCE.findall(svg))
    names: dict[str, str] = {}
    for name in _ID.findall(svg):
        if name in referenced and name not in names:
            names[name] = f"i{len(names):x}"

    def renamed(match: re.Match) -> str:
        name = names.get(match.group(1))
        return f' id="{name}"' if name else ""

    svg = _ID.sub(renamed, svg)
    return _REFERENCE.sub(lambda m: "#" + names.get(m.group(1), m.group(1)), svg)


def _without_bare_groups(svg: str) -> str:
    out, kept, last = [], [], 0
    for match in _GROUP_TAG.finditer(svg):
        out.append(svg[last : match.start()])
        last = match.end()
        if match.group(1):
            if kept.pop():
                out.append(match.group())
        else:
            keep = bool((match.group(2) or "").strip())
            kept.append(keep)
            if keep:
                out.append(match.group())
    if kept:
        raise ValueError("SVG with an unclosed <g>")
    out.append(svg[last:])
    return "".join(out)


def compact_svg(svg: str) -> str:
    """The same figure in fewer bytes (about half, for matplotlib's output); idempotent."""
    svg = _METADATA.sub("", _PROLOG.sub("", svg))
    svg = _PATH_DATA.sub(lambda m: m.group(1) + " ".join(m.group(2).split()) + '"', svg)
    svg = _ATTRIBUTE.sub(lambda m: _DECIMAL.sub(_rounded, m.group()), svg)
    svg = _BETWEEN_TAGS.sub("><", svg).strip()
    svg = _short_ids(svg)
    svg = _IDENTITY_ROTATION.sub("", svg)
    svg = _FALLBACKS.sub("font-family: 'DejaVu Sans', sans-serif", svg)
    svg = _without_bare_groups(svg)
    return _USE_RUN.sub(_grouped_markers, svg)
