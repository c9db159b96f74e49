"""``python -m benchmarks.scale``: see :mod:`benchmarks.scale`."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    main()
    sys.exit(0)
