"""``python -m scaling_lab.families``: see :mod:`scaling_lab.families.cli`."""

import sys

from .cli import main

sys.exit(main())
