"""``python -m functions.ops``."""

import sys

from functions.ops.cli import main

sys.exit(main())
