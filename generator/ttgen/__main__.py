"""``python -m ttgen``: the same as the ``ttgen`` command."""

import sys

from .cli import main

sys.exit(main())
