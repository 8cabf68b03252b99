"""``python -m cmf``: the same as the ``cmf`` command."""

import sys

from cmf.cli import main

sys.exit(main())
