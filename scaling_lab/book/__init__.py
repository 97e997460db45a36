"""The book layer: figures, static/live widgets, tables and ``glue`` for the chapters.

Nothing in the library imports this package. It needs the ``book`` extra
(``pip install "scaling_lab[book]"``: matplotlib, IPython, ipywidgets, myst-nb and what
executes a chapter). ``sl.plots``, ``sl.widgets`` and ``sl.report`` resolve here on
first use, so chapters keep writing ``sl.plots.use_style()``.
"""
