"""Sphinx extension: bibliography labels in the same author-year form as the citations.

The chapters cite author-year ("Hoffmann et al. (2022)", ``bibtex_reference_style:
author_year``), but the References page labelled its entries in pybtex's alpha form
([HBM+22]), so a reader could not match a citation to its entry. This registers the
pybtex style ``author_year``: pybtex's ``plain`` formatting with labels "Hoffmann et al.
2022", selected by ``bibtex_default_style`` in _config.yml.
"""

from __future__ import annotations

from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _surname(person) -> str:
    return " ".join(person.prelast_names + person.last_names).replace("{", "").replace("}", "")


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [_surname(p) for p in people]
            if len(names) >= 3:
                who = f"{names[0]} et al."
            elif names:
                who = " and ".join(names)
            else:
                who = entry.fields.get("organization", entry.key)
            yield f"{who} {entry.fields.get('year', 'n.d.')}"


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabels


def setup(app):
    register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
