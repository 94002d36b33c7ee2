"""`python -m gitops_sdk` runs the `gitops` command."""

import sys

from .cli import main

sys.exit(main())
