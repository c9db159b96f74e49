"""``python -m personal_core.cli``: the ``personal`` command."""

import sys

from . import main

sys.exit(main())
