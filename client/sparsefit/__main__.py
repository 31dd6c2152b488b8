"""`python -m sparsefit`: the command line."""

import sys

from sparsefit.cli import main

sys.exit(main())
