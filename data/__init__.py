"""Project-authored tables, shipped as the package data ``scaling_lab.data``.

The registry of external files and small tables of published figures.
"""
