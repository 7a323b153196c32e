"""``python -m robobench`` is the same as the ``robobench`` console script."""

import sys

from robobench.cli import main

sys.exit(main())
