"""Root pytest configuration: collect the book's chapters under ``--nbval``."""

pytest_plugins = ["tests.nbval_myst"]
