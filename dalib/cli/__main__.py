"""``python -m dalib.cli``."""

import sys

from dalib.cli import main

sys.exit(main())
