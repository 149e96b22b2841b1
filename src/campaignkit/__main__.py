"""``python -m campaignkit``: see :mod:`campaignkit.cli`."""

import sys

from campaignkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
