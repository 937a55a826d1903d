"""``python -m harness.datatools verify|fetch|convert|manifest ...``."""

import sys

from harness.datatools.cli import main

sys.exit(main(sys.argv[1:]))
