"""`python -m lstmzip` is the `lstmzip` command."""

import sys

from .cli import main

sys.exit(main())
