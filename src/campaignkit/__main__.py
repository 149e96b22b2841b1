"""``python -m campaignkit``: see :mod:`campaignkit.cli`."""

import sys

from campaignkit.cli import main

if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess test
    sys.exit(main())
